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
                log.push(format!("{} {} → {status}", spec.method, spec.url_shown));
                let (body, note) = match read_up_to(response, ACTION_MAX_BODY, false).await {
                    Ok(capped) => {
                        let note = capped.truncated.then(|| {
                            format!(
                                "(the response is larger than {}; the rest was not read)",
                                crate::plan::format_size(ACTION_MAX_BODY)
                            )
                        });
                        (text_of(capped.bytes), note)
                    }
                    Err(why) => {
                        (String::new(), Some(format!("(the response body was not read: {why})")))
                    }
                };
                let shown: String = body.chars().take(BODY_SHOWN_BYTES).collect();
                if !shown.trim().is_empty() {
                    log.push(shown);
                }
                log.extend(note);
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

/// The largest action response body read; the rest is left unread (the status decides the
/// outcome, the body is only shown and kept for read-back).
pub const ACTION_MAX_BODY: u64 = crate::plan::DEFAULT_MAX_BODY;

/// A body read no further than a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    /// The bytes read, at most the cap.
    pub bytes: Vec<u8>,
    /// Whether the body went on past the cap (the rest was not read).
    pub truncated: bool,
}

/// Reads a response body chunk by chunk and stops at `max` bytes; what lies beyond is never
/// read (the response is dropped, which closes the connection). With `refuse_declared_larger`
/// a `Content-Length` above the cap stops before any of the body is read.
pub async fn read_up_to(
    mut response: reqwest::Response,
    max: u64,
    refuse_declared_larger: bool,
) -> Result<Capped, String> {
    if refuse_declared_larger && response.content_length().is_some_and(|n| n > max) {
        return Ok(Capped { bytes: Vec::new(), truncated: true });
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        let room = limit.saturating_sub(bytes.len());
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Capped { bytes, truncated: true });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped { bytes, truncated: false })
}

/// A probe's body as text, read no further than `max` bytes: a larger body is an error
/// naming the cap and `field`, the plan field that sets it.
pub async fn read_capped_text(
    response: reqwest::Response,
    max: u64,
    field: &str,
) -> Result<String, String> {
    let capped = read_up_to(response, max, true).await?;
    if capped.truncated {
        return Err(format!("response larger than {} ({field})", crate::plan::format_size(max)));
    }
    Ok(text_of(capped.bytes))
}

/// Bytes as text, invalid UTF-8 replaced (as `Response::text` does).
pub fn text_of(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// A reqwest error in the words an operator needs.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        let text = format!("{e:?}").to_lowercase();
        if text.contains("dns") || text.contains("resolve") || text.contains("lookup") {
            match e.url().and_then(|u| u.host_str()) {
                Some(host) => format!("DNS lookup failed for host {host}"),
                None => "DNS lookup failed".into(),
            }
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
