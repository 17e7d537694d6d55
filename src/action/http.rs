//! Running an http action: one request with a timeout and an expected status; retried with
//! backoff only when the plan marks the call idempotent.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// What to send.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// Method, upper case.
    pub method: String,
    /// URL, secrets resolved.
    pub url: String,
    /// URL as shown (secrets as `***`).
    pub url_shown: String,
    /// Headers, secrets resolved.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Status that means success.
    pub expect_status: u16,
    /// Extra attempts after a failure (0 unless idempotent).
    pub retries: u32,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResult {
    /// The last status received.
    pub status: Option<u16>,
    /// Why it counts as failed.
    pub error: Option<String>,
    /// The response body (truncated) and a line per attempt.
    pub tail: String,
    /// The body, for read-back actions.
    pub body: String,
}

const BODY_SHOWN_BYTES: usize = 4096;

/// Sends the request, retrying as allowed.
pub async fn run(
    client: &reqwest::Client,
    spec: &HttpSpec,
    cancel: &CancellationToken,
) -> HttpResult {
    let mut log = Vec::new();
    let mut last =
        HttpResult { status: None, error: None, tail: String::new(), body: String::new() };
    for attempt in 0..=spec.retries {
        if attempt > 0 {
            let backoff = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(6)));
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = cancel.cancelled() => break,
            }
        }
        let method =
            reqwest::Method::from_bytes(spec.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut request = client.request(method, &spec.url).timeout(spec.timeout);
        for (k, v) in &spec.headers {
            request = request.header(k, v);
        }
        if let Some(body) = &spec.body {
            request = request.json(body);
        }
        let sent = tokio::select! {
            r = request.send() => r,
            () = cancel.cancelled() => {
                last.error = Some("cancelled".into());
                break;
            }
        };
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                log.push(format!("{} {} → {status}", spec.method, spec.url_shown));
                let shown: String = body.chars().take(BODY_SHOWN_BYTES).collect();
                if !shown.trim().is_empty() {
                    log.push(shown);
                }
                last.status = Some(status);
                last.body = body;
                if status == spec.expect_status {
                    last.error = None;
                    break;
                }
                last.error = Some(format!("expected HTTP {}, got {status}", spec.expect_status));
            }
            Err(e) => {
                let why = describe(&e);
                log.push(format!("{} {} → {why}", spec.method, spec.url_shown));
                last.error = Some(why);
            }
        }
    }
    last.tail = log.join("\n");
    last
}

/// A reqwest error in the words an operator needs.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        let text = format!("{e:?}").to_lowercase();
        if text.contains("dns") || text.contains("resolve") || text.contains("lookup") {
            "DNS lookup failed".into()
        } else if text.contains("certificate") || text.contains("tls") {
            "TLS handshake failed".into()
        } else if text.contains("refused") {
            "connection refused".into()
        } else {
            "cannot connect".into()
        }
    } else if e.is_decode() || e.is_body() {
        "could not read the response body".into()
    } else {
        let text = e.to_string();
        text.split(':').next().unwrap_or("request failed").trim().to_owned()
    }
}
