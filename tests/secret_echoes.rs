//! A server that echoes a secret back in the forms servers really use (percent-encoded with
//! `%20` or `+`, lower-case hex, JSON-escaped, `\u`-escaped, base64, base64 inside a Basic
//! credential) must not get any of them into the store, the event stream or the output
//! (issue 12, item 12). Counts occurrences of every form, in the database files too.
//!
//! The server listens on 127.0.0.1:0 and is stopped when the test ends; every CLI run is
//! bounded (`support::cli`).

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use support::cli::{Deck, Out, kinds};

/// Space, `@`, `/`, `"`, `+`, `&`, `=`, a non-ASCII letter and a backslash: every encoding
/// writes this differently.
const SECRET: &str = "p@ss w/rd\"+&=é\\x9";

fn percent_encoded(text: &str, space_as_plus: bool, lower_hex: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' if space_as_plus => "+".to_owned(),
            b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => (b as char).to_string(),
            b if lower_hex => format!("%{b:02x}"),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `text` as inside a JSON string, as serde writes it (non-ASCII kept).
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_owned()
}

/// `text` as inside a JSON string, as ASCII-only encoders write it (`é` as `\u00e9`).
fn json_escaped_ascii(text: &str) -> String {
    json_escaped(text)
        .chars()
        .map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{:04x}", c as u32) })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every form the server echoes, by name.
fn echoed_forms(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("exact", secret.to_owned()),
        ("percent %20", percent_encoded(secret, false, false)),
        ("percent +", percent_encoded(secret, true, false)),
        ("percent lower-case hex", percent_encoded(secret, false, true)),
        ("JSON-escaped", json_escaped(secret)),
        ("JSON-escaped, ASCII only", json_escaped_ascii(secret)),
        ("base64", base64(secret.as_bytes())),
        ("base64 in a Basic credential", base64(format!("deploy:{secret}").as_bytes())),
    ]
}

/// An http endpoint that answers with the `token` of the JSON it was sent, in every form.
struct EchoingServer {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    received: Arc<Mutex<Vec<String>>>,
}

impl EchoingServer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route(
            "/echo",
            axum::routing::post({
                let received = Arc::clone(&received);
                move |body: String| {
                    let received = Arc::clone(&received);
                    async move {
                        let sent: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let token = sent["token"].as_str().unwrap_or_default().to_owned();
                        received.lock().unwrap_or_else(PoisonError::into_inner).push(token.clone());
                        // Plain text, so each form is echoed exactly as named (a JSON answer
                        // would escape the forms once more).
                        echoed_forms(&token)
                            .into_iter()
                            .map(|(name, form)| format!("{name}: [{form}]\n"))
                            .collect::<String>()
                    }
                }
            }),
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EchoingServer { runtime: Some(runtime), url: format!("http://{addr}/echo"), received }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for EchoingServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

fn run_with_secret(deck: &Deck, args: &[&str]) -> Out {
    let mut cmd = deck.command(args);
    cmd.env("FD_TEST_ECHO_SECRET", SECRET);
    support::cli::Running::spawn(cmd).wait()
}

/// How often `needle` occurs in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The characters of a base64 text that come from the secret alone, when the secret starts
/// `prefix` bytes into the encoded data: the characters around it also carry bits of what
/// surrounds it, so only these can be (and must be) redacted.
fn base64_core(encoded: &str, prefix: usize) -> String {
    let first = (8 * prefix).div_ceil(6);
    let end = 8 * (prefix + SECRET.len()) / 6;
    encoded[first..end].to_owned()
}

/// Every form (for base64, the characters from the secret alone), and every form as it
/// reads once stored inside a JSON document.
fn forms_to_look_for() -> Vec<(String, String)> {
    let mut forms = Vec::new();
    for (name, form) in echoed_forms(SECRET) {
        let form = match name {
            "base64" => base64_core(&form, 0),
            "base64 in a Basic credential" => base64_core(&form, "deploy:".len()),
            _ => form,
        };
        forms.push((json_escaped(&form), format!("{name}, stored in JSON")));
        forms.push((form, name.to_owned()));
    }
    forms
}

#[track_caller]
fn assert_no_form(what: &str, bytes: &[u8]) {
    let found: Vec<String> = forms_to_look_for()
        .into_iter()
        .map(|(form, name)| (occurrences(bytes, form.as_bytes()), name, form))
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, name, form)| format!("{n} × {name} `{form}`"))
        .collect();
    assert!(found.is_empty(), "the secret appears in {what}: {found:?}");
}

fn db_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn a_secret_echoed_back_encoded_is_stored_in_none_of_its_forms() {
    let server = EchoingServer::start();
    let deck = Deck::new();
    let plan = deck.write(
        "echo.toml",
        &format!(
            r#"[service]
name = "shop"
environment = "staging"

[actions.call]
kind = "http"
method = "POST"
url = "{url}"
body = {{ token = "${{env:FD_TEST_ECHO_SECRET}}" }}
timeout = "10s"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "call"
  kind = "action"
  action = "call"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#,
            url = server.url
        ),
    );
    let plan = plan.to_string_lossy().into_owned();
    let mut outputs = Vec::new();
    let out = run_with_secret(&deck, &["start", &plan, "--version", "1.4.0"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = run_with_secret(&deck, &["next"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(server.received(), [SECRET], "the server got the secret");
    // Every echoed line is there, with its form redacted (inside a longer base64 text, the
    // characters that also encode `deploy:` stay).
    for (name, _) in echoed_forms(SECRET) {
        let line = out.stdout.lines().find(|l| l.contains(&format!("{name}: ["))).unwrap_or("");
        let redacted = match name {
            "base64 in a Basic credential" => line.contains("***"),
            _ => line.ends_with("[***]"),
        };
        assert!(redacted, "{name} not redacted: {line:?}\n{out:?}");
    }
    outputs.push(("next".to_owned(), out));

    let events = deck.events();
    let finished: Vec<&Value> =
        events.iter().filter(|e| e["event"]["kind"] == "action_finished").collect();
    assert_eq!(finished.len(), 1, "{:?}", kinds(&events));
    let tail = finished[0]["event"]["output_tail"].as_str().unwrap_or_default();
    assert_eq!(tail.matches("***").count(), echoed_forms(SECRET).len(), "{tail}");

    for args in [&["events", "--json"][..], &["events"], &["status", "--json"], &["export"]] {
        let out = run_with_secret(&deck, args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        outputs.push((args.join(" "), out));
    }
    for (what, out) in &outputs {
        assert_no_form(&format!("the stdout of {what}"), out.stdout.as_bytes());
        assert_no_form(&format!("the stderr of {what}"), out.stderr.as_bytes());
    }
    let files = db_files(&deck.db);
    assert!(!files.is_empty(), "no database at {}", deck.db.display());
    for file in files {
        let bytes = std::fs::read(&file).expect("read a database file");
        assert_no_form(&file.display().to_string(), &bytes);
    }
}
