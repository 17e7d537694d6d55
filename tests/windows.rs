//! Release windows from the command line (issue 15): `start` inside a deny window (or outside
//! every allow window) exits 3 naming the window and the next allowed moment, records nothing;
//! a release type with `override_windows` starts anyway with a reason, recorded and flagged in
//! the report; a window that does not apply to a type does not bind it. The rules themselves
//! (time zones across a DST change, a one-off freeze's `until`, the next allowed moment) are
//! tested on fixed times in `plan::windows`.

mod support;

use support::cli::{Deck, kinds};

const PLAN: &str = r#"[service]
name = "billing"
environment = "staging"

[release_types.emergency]
approvals = 1
override_windows = true

[[windows]]
name = "long freeze"
kind = "deny"
until = "2099-12-31"
release_types = ["regular", "emergency"]

[[windows]]
name = "any time in Auckland"
kind = "allow"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
from = "00:00"
to = "24:00"
timezone = "Pacific/Auckland"

[[stages]]
id = "decide"
name = "Decide"

  [[stages.steps]]
  id = "go"
  kind = "gate"
  name = "Go/no-go"
  approvals = 1
"#;

#[test]
fn start_is_refused_in_a_freeze_and_an_emergency_overrides_it_on_the_record() {
    let deck = Deck::new();
    let plan = deck.write("plan.toml", PLAN).display().to_string();
    deck.ok(&["check", &plan]);
    let refused = deck.fails(
        &["start", &plan, "--version", "2.0.0"],
        3,
        "inside deny window \"long freeze\" (every day 00:00–24:00 UTC until 2099-12-31)",
    );
    assert!(refused.stderr.contains("next allowed: none within 60 days"), "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing was recorded"), "{}", refused.stderr);
    let emergency = ["start", &plan, "--version", "2.0.1", "--type", "emergency"];
    deck.fails(&emergency, 3, "may start anyway with --override-windows REASON");
    assert!(deck.run(&["status"]).code != Some(0), "nothing was recorded");

    let mut with_reason = emergency.to_vec();
    with_reason.extend(["--override-windows", "incident 4711: payments down"]);
    deck.ok(&with_reason);
    let events = deck.events();
    assert_eq!(kinds(&events)[..2], ["release_started", "windows_overridden"], "{events:?}");
    let report = deck.ok(&["report"]).stdout;
    assert!(
        report.contains(
            "| window override | root started despite long freeze: incident 4711: payments down |"
        ) || report.contains("started despite long freeze: incident 4711: payments down"),
        "{report}"
    );
    deck.ok(&["abort", "--reason", "done by hand"]);

    // The freeze does not apply to hotfixes, and the allow window is always open.
    deck.ok(&["start", &plan, "--version", "2.0.2", "--type", "hotfix"]);
}

#[test]
fn a_window_in_an_unknown_time_zone_is_a_plan_error_saying_what_to_write() {
    let deck = Deck::new();
    let plan = deck
        .write("plan.toml", &PLAN.replace("Pacific/Auckland", "Mars/Olympus"))
        .display()
        .to_string();
    let out = deck.fails(&["check", &plan], 1, "windows[1].timezone");
    assert!(out.stderr.contains("Europe/Berlin"), "{}", out.stderr);
}
