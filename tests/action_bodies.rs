//! An http action's response is read no further than 1 MiB (issue 12, item 10): its status
//! decides the outcome, the output says the rest was not read, and the server sees the
//! connection closed before its 50 MB body went out (counted on the server, not timed).
//!
//! The server listens on 127.0.0.1:0 and is stopped (connections shut, threads joined) when
//! the test ends; every CLI run is bounded (`support::cli`).

mod support;

use support::big_body::{BigBodyServer, Framing};
use support::cli::Deck;

const FIFTY_MB: u64 = 50 * 1000 * 1000;

#[test]
fn a_fifty_megabyte_action_response_is_read_to_one_mebibyte_and_the_status_decides() {
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let server = BigBodyServer::start(FIFTY_MB, framing);
        let deck = Deck::new();
        let plan = deck.write(
            "big.toml",
            &format!(
                r#"[service]
name = "shop"
environment = "staging"

[actions.call]
kind = "http"
method = "POST"
url = "{url}/deploy"
timeout = "30s"

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
        deck.ok(&["start", &plan.to_string_lossy(), "--version", "1.4.0"]);
        let out = deck.ok(&["next"]);
        assert!(out.stdout.contains("→ 200"), "{framing:?}: {}", out.stdout);
        assert!(
            out.stdout.contains("(the response is larger than 1 MiB; the rest was not read)"),
            "{framing:?}: {}",
            out.stdout
        );
        let events = deck.events();
        let finished: Vec<_> =
            events.iter().filter(|e| e["event"]["kind"] == "action_finished").collect();
        assert_eq!(finished.len(), 1, "{framing:?}: the action succeeded: {events:?}");
        let tail = finished[0]["event"]["output_tail"].as_str().unwrap_or_default();
        assert!(tail.contains("the rest was not read"), "{framing:?}: {tail}");
        assert!(tail.len() < 64 * 1024, "{framing:?}: the stored tail is bounded");

        assert!(server.wait_ended(1), "{framing:?}: the server never saw its connection end");
        assert_eq!(server.connections(), 1, "{framing:?}");
        assert_eq!(server.closed_early(), 1, "{framing:?}");
        assert_eq!(server.completed(), 0, "{framing:?}: the whole body went out");
        assert!(
            server.most_on_one_connection() < FIFTY_MB / 2,
            "{framing:?}: {} of {FIFTY_MB} bytes went out",
            server.most_on_one_connection()
        );
    }
}
