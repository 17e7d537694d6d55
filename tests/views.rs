//! The cockpit's screens, drawn on ratatui's `TestBackend` (STYLE 36). Each fixture is a real
//! event history replayed through the engine at a fixed `now` (see `support::fixtures`), drawn
//! at 80×24 (one focused pane, stacked) and 120×40 (side by side), and compared with the
//! stored snapshot. Plain assertions check what matters whatever the snapshots say: the way
//! out and the way to help are always on screen, states carry a glyph or a word, and
//! production is named in the header. CI runs with `INSTA_UPDATE=no`.

mod support;

use flightdeck::tui::model::{Model, Pane};
use flightdeck::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use support::fixtures;

/// The two sizes every screen is snapshotted at.
const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

/// Draws `model` on a `width`×`height` test terminal.
fn draw(model: &Model, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut model = model.clone();
    model.size = (width, height);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|frame| view::render(frame, &model)).expect("drawing never fails");
    terminal
}

/// The screen as text, one string per row.
fn rows(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| (area.left()..area.right()).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

fn screen(model: &Model, width: u16, height: u16) -> Vec<String> {
    rows(draw(model, width, height).backend().buffer())
}

/// The sizes the screens of issue 13 are snapshotted at: decisive text must fit at all three.
const THREE_SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

/// Snapshots `model` at 80×24, 120×40 and 200×50.
fn snapshot3(name: &str, model: &Model) {
    for (width, height) in THREE_SIZES {
        let terminal = draw(model, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

/// Snapshots `model` at 80×24 and 120×40 as `views__{name}_{w}x{h}.snap`.
fn snapshot(name: &str, model: &Model) {
    for (width, height) in SIZES {
        let terminal = draw(model, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn fresh_release_shows_the_pre_deploy_checklist() {
    snapshot("fresh", &fixtures::fresh());
}

#[test]
fn checklist_partly_ticked_with_an_item_selected() {
    snapshot("checklist_partial", &fixtures::checklist_partial());
}

#[test]
fn gate_with_one_approval_and_a_no_go() {
    snapshot("gate_no_go", &fixtures::gate_no_go());
}

#[test]
fn gate_with_roles_names_the_missing_role() {
    let model = fixtures::gate_with_roles();
    snapshot("gate_roles", &model);
    let wide = screen(&model, 120, 40).join("\n");
    // The detail pane may wrap the names onto the next line.
    assert!(wide.contains("needs 1 more release_manager"), "{wide}");
    assert!(wide.contains("(dave, erin)"), "{wide}");
}

#[test]
fn a_gate_counts_down_its_soak_and_its_deadline() {
    snapshot("gate_deadline", &fixtures::gate_with_deadline());
    let text = screen(&fixtures::gate_with_deadline(), 120, 40).join("\n");
    assert!(text.contains("soak: may pass in 06:00"), "{text}");
    assert!(text.contains("decide within 26:00, or flightdeck"), "{text}");
}

/// `a` at a gate with a typed input not given yet asks for it; Enter gives it (the engine
/// checks the pattern), and the detail then shows the value and who gave it.
#[test]
fn a_gate_asks_for_its_typed_inputs_before_approving() {
    use flightdeck::release::Command;
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let mut m = fixtures::gate_with_deadline();
    let text = screen(&m, 120, 40).join("\n");
    assert!(text.contains("Change ticket: needed"), "{text}");
    assert!(update(&mut m, Msg::KeyPressed(Key::Char('a'))).is_empty(), "a prompt, no command");
    let text = screen(&m, 80, 24).join("\n");
    assert!(text.contains("Change ticket (ticket)"), "{text}");
    fixtures::type_text(&mut m, "CHG-42");
    match update(&mut m, Msg::KeyPressed(Key::Enter)).as_slice() {
        [Effect::Execute { command, .. }] => assert_eq!(
            *command,
            Command::GiveInputs { values: vec![("ticket".into(), "CHG-42".into())] }
        ),
        other => panic!("expected the inputs to be given, got {other:?}"),
    }
}

#[test]
fn a_given_ticket_is_in_the_header_and_the_gate_detail() {
    let model = fixtures::gate_with_ticket();
    let text = screen(&model, 120, 40).join("\n");
    let header = text.lines().next().unwrap_or_default();
    assert!(header.contains("ticket CHG-42"), "{header}");
    assert!(text.contains("✓ Change ticket: CHG-42 (bob,"), "{text}");
}

#[test]
fn the_header_says_a_release_runs_on_past_its_window() {
    let model = fixtures::outside_window();
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains("outside window since 11:10"), "{text}");
    // A release with no windows says nothing of them.
    let plain = screen(&fixtures::fresh(), 120, 40).join("\n");
    assert!(!plain.contains("outside window"), "{plain}");
}

#[test]
fn action_running_with_live_output() {
    snapshot("action_running", &fixtures::action_running());
}

#[test]
fn action_failed() {
    snapshot("action_failed", &fixtures::action_failed());
}

#[test]
fn action_interrupted() {
    snapshot("action_interrupted", &fixtures::action_interrupted());
}

#[test]
fn action_failed_then_marked_succeeded_by_hand() {
    snapshot("resolved_by_hand", &fixtures::resolved_by_hand());
}

#[test]
fn action_succeeded_shows_its_outputs_in_the_detail() {
    let model = fixtures::action_with_outputs();
    let shown = screen(&model, 120, 40).join("\n");
    assert!(shown.contains("output backup_id = bk-7f3a"), "{shown}");
    snapshot("action_with_outputs", &model);
}

#[test]
fn bake_in_progress() {
    snapshot("bake_in_progress", &fixtures::bake_in_progress());
}

#[test]
fn bake_claimed_by_bob_and_the_next_shift_by_alice() {
    snapshot("claimed", &fixtures::claimed());
}

#[test]
fn claims_show_who_and_time_left_at_both_sizes_and_lapse_off_screen() {
    let model = fixtures::claimed();
    for (width, height) in SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("⚑bob 16m"), "bob's claim on the bake at {width}×{height}:\n{text}");
        assert!(text.contains("⚑alice 17m"), "alice's claim at {width}×{height}:\n{text}");
        // The detail pane may wrap the line (under its indent) where the probes need the room.
        assert!(
            text.contains("claimed by bob until") && text.contains("11:44 UTC"),
            "detail at {width}×{height}"
        );
    }
    // Twenty minutes on, both claims have lapsed: the steps pane no longer shows them.
    let mut later = model.clone();
    later.now = later.now.plus_millis(20 * 60 * 1000);
    let text = screen(&later, 120, 40).join("\n");
    assert!(!text.contains('⚑'), "lapsed claims are not shown:\n{text}");
    assert!(text.contains("bob's claim lapsed at"), "{text}");
}

#[test]
fn the_claim_keys_claim_take_over_with_a_reason_and_release() {
    use flightdeck::release::Command;
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let command_of = |effects: Vec<Effect>| match effects.as_slice() {
        [Effect::Execute { command, expect_seq, .. }] => (command.clone(), *expect_seq),
        other => panic!("expected one command, got {other:?}"),
    };
    // bob holds the bake: `w` asks alice why she takes it over, and nothing runs before.
    let mut m = fixtures::claimed();
    let seen = m.release.as_ref().map(|r| r.state.seq);
    assert!(update(&mut m, Msg::KeyPressed(Key::Char('w'))).is_empty());
    let text = screen(&m, 80, 24).join("\n");
    assert!(text.contains("TAKE OVER `bake-10` from bob"), "{text}");
    fixtures::type_text(&mut m, "bob is paged elsewhere");
    let (command, expect_seq) = command_of(update(&mut m, Msg::KeyPressed(Key::Enter)));
    assert_eq!(
        command,
        Command::Claim { step: "bake-10".into(), reason: Some("bob is paged elsewhere".into()) }
    );
    assert_eq!(expect_seq, seen, "a takeover is decided on the claim alice saw");
    // On alice's own claim (the 50% shift, the next step down) `w` renews, `W` releases.
    let mut m = fixtures::claimed();
    fixtures::press(&mut m, &[Key::Down]);
    let (command, _) = command_of(update(&mut m, Msg::KeyPressed(Key::Char('w'))));
    assert_eq!(command, Command::Claim { step: "traffic-50".into(), reason: None });
    let (command, _) = command_of(update(&mut m, Msg::KeyPressed(Key::Char('W'))));
    assert_eq!(command, Command::Unclaim { step: "traffic-50".into() });
    // A read-only cockpit claims nothing.
    let mut m = fixtures::read_only();
    assert!(update(&mut m, Msg::KeyPressed(Key::Char('w'))).is_empty());
}

/// `t` on a failed shift to 100% asks for the service name like the first attempt, and `m`
/// (mark succeeded) asks for it after the reason; `t` on other failures runs at once.
#[test]
fn retrying_or_marking_a_failed_full_shift_asks_for_the_service_name() {
    use flightdeck::release::{Command, Resolution};
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let command_of = |effects: Vec<Effect>| match effects.as_slice() {
        [Effect::Execute { command, seen_step, .. }] => (command.clone(), seen_step.clone()),
        other => panic!("expected one command, got {other:?}"),
    };
    let mut m = fixtures::full_shift_failed();
    assert!(update(&mut m, Msg::KeyPressed(Key::Char('t'))).is_empty(), "t ran at once");
    let text = screen(&m, 80, 24).join("\n");
    assert!(text.contains("Retry: shift ALL traffic to shop 1.4.0?"), "{text}");
    fixtures::type_text(&mut m, "shop");
    let (command, seen_step) = command_of(update(&mut m, Msg::KeyPressed(Key::Enter)));
    assert_eq!(command, Command::Retry { confirmed: true });
    assert_eq!(seen_step.as_deref(), Some("shift-100"), "the retry names the step on screen");

    let mut m = fixtures::full_shift_failed();
    assert!(update(&mut m, Msg::KeyPressed(Key::Char('m'))).is_empty());
    fixtures::type_text(&mut m, "the balancer shows 100%");
    assert!(update(&mut m, Msg::KeyPressed(Key::Enter)).is_empty(), "the name is asked next");
    fixtures::type_text(&mut m, "shop");
    let (command, _) = command_of(update(&mut m, Msg::KeyPressed(Key::Enter)));
    assert_eq!(
        command,
        Command::Resolve {
            resolution: Resolution::Succeeded,
            reason: "the balancer shows 100%".into(),
            confirmed: true,
        }
    );

    // A failed backup is retried at once, unconfirmed.
    let mut m = fixtures::action_failed();
    let (command, _) = command_of(update(&mut m, Msg::KeyPressed(Key::Char('t'))));
    assert_eq!(command, Command::Retry { confirmed: false });
}

/// A no-go typed while the screen moved on (the gate passed meanwhile) names the gate that was
/// on screen when `d` was pressed, so the store refuses it instead of landing it elsewhere.
#[test]
fn a_prompt_names_the_step_on_screen_when_it_opened() {
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let mut m = fixtures::gate_no_go();
    assert!(update(&mut m, Msg::KeyPressed(Key::Char('d'))).is_empty());
    // The release moves on under the open prompt.
    if let Some(r) = m.release.as_mut() {
        r.state.cursor += 1;
    }
    fixtures::type_text(&mut m, "not today");
    match update(&mut m, Msg::KeyPressed(Key::Enter)).as_slice() {
        [Effect::Execute { seen_step, .. }] => assert_eq!(seen_step.as_deref(), Some("go")),
        other => panic!("expected one command, got {other:?}"),
    }
}

#[test]
fn traffic_at_fifty_percent() {
    snapshot("traffic_50", &fixtures::traffic_50());
}

#[test]
fn a_drifted_weight_shows_wanted_and_read_in_the_traffic_bar() {
    snapshot("drifted", &fixtures::drifted());
    let top = screen(&fixtures::drifted(), 80, 24);
    assert!(top.iter().any(|l| l.contains("DRIFT") && l.contains("30%")), "{top:#?}");
}

#[test]
fn traffic_history_overlay() {
    snapshot("traffic_history", &fixtures::traffic_history());
}

#[test]
fn paused_release() {
    snapshot("paused", &fixtures::paused());
}

#[test]
fn rolling_back() {
    snapshot("rolling_back", &fixtures::rolling_back());
}

#[test]
fn rolled_back() {
    snapshot("rolled_back", &fixtures::rolled_back());
}

/// A bake a rollback interrupted shows `stopped` and no ticking clock (issue 11.7).
#[test]
fn rolled_back_mid_bake() {
    let model = fixtures::rolled_back_mid_bake();
    snapshot("rolled_back_mid_bake", &model);
}

#[test]
fn completed() {
    snapshot("completed", &fixtures::completed());
}

#[test]
fn read_only_cockpit() {
    snapshot("read_only", &fixtures::read_only());
}

#[test]
fn help_overlay() {
    snapshot("help", &fixtures::help());
}

#[test]
fn rollback_prompt() {
    snapshot("rollback_prompt", &fixtures::rollback_prompt());
}

#[test]
fn timeline_focused_and_filtered() {
    snapshot("timeline_filtered", &fixtures::timeline_filtered());
}

#[test]
fn health_pane_with_readings() {
    let model = fixtures::health();
    let shown = screen(&model, 120, 40).join("\n");
    // The endpoint reports `v1.4.0`: shown once with its `v`, and not a version mismatch.
    assert!(shown.contains(" v1.4.0") && !shown.contains("vv1.4.0"), "{shown}");
    assert!(!shown.contains("VERSION"), "{shown}");
    snapshot("health", &model);
}

#[test]
fn metrics_pane_with_samples() {
    snapshot("metrics", &fixtures::metrics());
}

/// A value past its abort level that has not lasted its `for` is `▲ breaching 20s/1m` in
/// amber, never `✓`; values and thresholds share a unit (% for a ratio, ms below 1 s) and
/// 0.4969 s next to 0.5 s never prints as the same number.
#[test]
fn a_breach_counting_toward_its_for() {
    let model = fixtures::breaching();
    snapshot3("breaching", &model);
    for (width, height) in THREE_SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("breaching 20s/1m"), "at {width}×{height}:\n{text}");
        assert!(text.contains("▲ 5xx ratio") || text.contains("▲ error_rate"), "{text}");
        assert!(!text.contains("✓ error_rate") && !text.contains("✓ 5xx"), "{text}");
    }
    let wide = screen(&model, 120, 40).join("\n");
    assert!(wide.contains("8.50%") && wide.contains("abort > 2%"), "{wide}");
    assert!(wide.contains("497ms"), "0.4969 s in ms, not 0.50s:\n{wide}");
    assert!(!wide.contains("0.50s"), "{wide}");
    assert!(wide.contains("why: breaching: value 8.50%, threshold > 2%"), "{wide}");
    assert!(!wide.contains("why: pass"), "{wide}");
    // At 80×24 the strip under the tabs names the worst series on every tab.
    let mut steps = model.clone();
    steps.focus = Pane::Steps;
    let compact = screen(&steps, 80, 24).join("\n");
    assert!(compact.contains("▲ error_rate breaching 20s/1m 8.50% > 2%"), "{compact}");
    assert!(compact.contains("Metrics▲"), "the tab bar marks the breach:\n{compact}");
    assert!(compact.contains("1 FLAKY"), "{compact}");
}

/// A source that stopped answering shows its last value as `STALE 40s` at every size, with `?`
/// rather than `✓`.
#[test]
fn a_stale_source() {
    let model = fixtures::stale_source();
    snapshot3("stale_source", &model);
    for (width, height) in THREE_SIZES {
        let mut metrics = model.clone();
        metrics.focus = Pane::Metrics;
        let text = screen(&metrics, width, height).join("\n");
        assert!(text.contains("STALE 40s"), "at {width}×{height}:\n{text}");
        assert!(text.contains("? 5xx ratio") || text.contains("? error_rate"), "{text}");
    }
}

/// Endpoints whose checks stopped arriving say `STALE` with the age of their last check, in
/// place of a fresh-looking age; the metrics' last values go stale too.
#[test]
fn checks_that_stopped_arriving_are_stale() {
    let mut model = fixtures::stale_source();
    model.now = model.now.plus_millis(120_000);
    model.focus = Pane::Health;
    for (width, height) in THREE_SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("STALE 2m 200 41ms"), "at {width}×{height}:\n{text}");
        assert!(!text.contains("✓ db_connections"), "an old value is not ✓:\n{text}");
    }
}

/// After an automatic rollback the breach that caused it is on screen, and the series'
/// verdict is what its numbers say now.
#[test]
fn a_release_rolled_back_by_itself() {
    let model = fixtures::rolled_back_automatically();
    snapshot3("rolled_back_automatically", &model);
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains("ROLLED BACK"), "{text}");
    assert!(!text.contains("pass: value"), "{text}");
}

/// `--ascii` (or a locale that is not UTF-8): nothing but ASCII on screen, marks, bar,
/// sparklines and borders included.
#[test]
fn the_ascii_fallback() {
    let model = fixtures::ascii();
    snapshot3("ascii", &model);
    for (width, height) in THREE_SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.is_ascii(), "at {width}×{height}:\n{text}");
        assert!(text.contains("breaching 20s/1m"), "{text}");
        assert!(text.contains("! error_rate") || text.contains("! 5xx ratio"), "{text}");
        assert!(text.contains("+-"), "ASCII borders:\n{text}");
    }
}

/// `?` at 80×24 is one column that scrolls with j/k, below the header and the traffic bar.
#[test]
fn the_help_at_80x24_scrolls() {
    let model = fixtures::help_scrolled();
    let terminal = draw(&model, 80, 24);
    insta::assert_snapshot!("help_scrolled_80x24", terminal.backend());
    let text = rows(terminal.backend().buffer());
    assert!(text[1].contains("traffic"), "the traffic bar stays in view:\n{text:#?}");
    assert!(text.iter().any(|l| l.contains("Help: every key, 4-21 of")), "{text:#?}");
    assert!(text.iter().all(|l| !l.contains('…')), "no line is cut:\n{text:#?}");
}

#[test]
fn welcome_screen_without_a_release() {
    snapshot("welcome", &fixtures::welcome());
}

#[test]
fn too_small_terminals_say_so_and_do_not_panic() {
    let model = fixtures::fresh();
    for (width, height) in [(59, 15), (10, 3)] {
        let terminal = draw(&model, width, height);
        insta::assert_snapshot!(format!("too_small_{width}x{height}"), terminal.backend());
    }
    let text = screen(&model, 59, 15).concat();
    assert!(text.contains("too small"), "{text}");
}

#[test]
fn every_fixture_draws_at_every_size_and_focus_without_panicking() {
    let sizes = [
        (1, 1),
        (59, 15),
        (60, 16),
        (61, 17),
        (80, 24),
        (99, 29),
        (100, 30),
        (120, 40),
        (133, 35),
        (200, 60),
        (300, 100),
    ];
    for (name, model) in fixtures::all() {
        for pane in Pane::ALL {
            let mut model = model.clone();
            model.focus = pane;
            for (width, height) in sizes {
                let result = std::panic::catch_unwind(|| draw(&model, width, height));
                assert!(result.is_ok(), "{name} focused on {pane:?} panicked at {width}×{height}");
            }
        }
    }
}

/// Colour carries meaning here (a red production badge, a red failed step), and `Buffer`'s
/// Debug output includes every style, so a style regression shows in this one snapshot.
#[test]
fn colours_of_a_failed_step_in_production() {
    let terminal = draw(&fixtures::action_failed(), 80, 24);
    insta::assert_debug_snapshot!("action_failed_colours_80x24", terminal.backend().buffer());
}

#[test]
fn every_screen_at_80x24_keeps_quit_and_help_in_view() {
    for (name, model) in fixtures::all() {
        let text = screen(&model, 80, 24).join("\n");
        assert!(text.contains("q quit"), "{name}: no `q quit` at 80×24:\n{text}");
        assert!(text.contains("? help"), "{name}: no `? help` at 80×24:\n{text}");
    }
}

#[test]
fn the_help_overlay_lists_every_binding_at_both_sizes() {
    let model = fixtures::help();
    for (width, height) in SIZES {
        // Where the help scrolls (80×24), every binding is on one of its pages.
        let mut rows = Vec::new();
        for scroll in 0..=model.keymap.bindings.len() {
            let mut page = model.clone();
            page.ui.help_scroll = scroll;
            rows.extend(screen(&page, width, height));
        }
        for b in &model.keymap.bindings {
            let keys: Vec<String> = b.keys.iter().map(ToString::to_string).collect();
            let keys = keys.join(" ");
            let start: String = b.desc.chars().take(10).collect();
            assert!(
                rows.iter().any(|r| r.contains(&format!(" {keys} ")) && r.contains(&start)),
                "help at {width}×{height} lacks `{keys}` ({}):\n{}",
                b.desc,
                rows.join("\n")
            );
        }
    }
}

#[test]
fn a_failed_step_carries_a_mark_and_a_word_not_only_red() {
    let model = fixtures::action_failed();
    for (width, height) in SIZES {
        let rows = screen(&model, width, height);
        assert!(
            rows.iter().any(|r| r.contains('✗') && r.contains("backup")),
            "no ✗ on the failed step at {width}×{height}:\n{}",
            rows.join("\n")
        );
        assert!(
            rows.iter().any(|r| r.contains("FAILED")),
            "FAILED is not written at {width}×{height}:\n{}",
            rows.join("\n")
        );
    }
    let model = fixtures::action_interrupted();
    for (width, height) in SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("INTERRUPTED"), "INTERRUPTED is not written:\n{text}");
    }
}

#[test]
fn the_header_names_production_on_every_release_screen() {
    for (name, model) in fixtures::all() {
        if model.release.is_none() {
            continue;
        }
        for (width, height) in SIZES {
            if name == "help" && width == 80 {
                continue; // at 80×24 the two-column help covers everything but the footer
            }
            let rows = screen(&model, width, height);
            assert!(
                rows[0].contains("PRODUCTION"),
                "{name} at {width}×{height}: header is {:?}",
                rows[0]
            );
        }
    }
}

#[test]
fn a_read_only_cockpit_says_so_in_header_and_footer() {
    let model = fixtures::read_only();
    for (width, height) in SIZES {
        let rows = screen(&model, width, height);
        let h = usize::from(height);
        assert!(rows[0].contains("READ-ONLY"), "header at {width}×{height}: {:?}", rows[0]);
        assert!(rows[h - 2].contains("read-only"), "footer at {width}×{height}: {:?}", rows[h - 2]);
        assert!(
            !rows[h - 2].contains("approve"),
            "acting keys offered read-only: {:?}",
            rows[h - 2]
        );
    }
}

#[test]
fn the_bake_shows_its_timer() {
    let model = fixtures::bake_in_progress();
    for (width, height) in SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("04:12/15m"), "no bake timer at {width}×{height}:\n{text}");
    }
}

/// A team: bob drives and has offered alice the wheel; two others watch.
fn team_handing_over() -> Model {
    let mut model = fixtures::fresh();
    let bob = fixtures::bob();
    let lease =
        |operator: &str, host: &str, pid: u32, offered_to: Option<&str>| flightdeck::store::Lease {
            operator: operator.into(),
            host: host.into(),
            pid,
            expires_at: flightdeck::release::Timestamp(i64::MAX),
            offered_to: offered_to.map(Into::into),
        };
    model.lease = Some(lease(&bob.name, &bob.host, bob.pid, Some("alice")));
    model.others = ["bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, name)| flightdeck::store::Presence {
            operator: (*name).into(),
            account: (*name).into(),
            host: "bastion-2".into(),
            pid: 900 + u32::try_from(i).unwrap_or(0),
            tty: "/dev/pts/3".into(),
            read_only: *name == "carol",
            last_seen: model.now,
        })
        .collect();
    model
}

#[test]
fn the_header_says_who_drives_and_who_it_is_being_handed_to() {
    let model = team_handing_over();
    snapshot("team_handing_over", &model);
    let header = &screen(&model, 120, 40)[0];
    assert!(header.contains("driven by bob@"), "{header}");
    assert!(header.contains("→ you"), "{header}");
    assert!(header.contains("+2 watching"), "{header}");

    // The driver's own header says it is handing over.
    let mut driving = model.clone();
    let me = driving.me.clone();
    if let Some(lease) = driving.lease.as_mut() {
        (lease.operator, lease.host, lease.pid) = (me.name.clone(), me.host.clone(), me.pid);
        lease.offered_to = Some("*".into());
    }
    let header = &screen(&driving, 120, 40)[0];
    assert!(header.contains("you drive, handing over"), "{header}");
    assert!(!header.contains("driven by"), "{header}");
}

/// Refuse before asking (issue 13.5): a key whose command the engine would refuse opens no
/// dialog, rings the bell and says why at once; the same key where it would be accepted
/// still asks for its reason (and the service name).
#[test]
fn a_key_the_engine_would_refuse_opens_no_prompt_and_says_why() {
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::model::{Overlay, Tone};
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    // The rich plan's bake, time up but its review at T+5m never confirmed.
    let review_missed = || {
        let mut m = fixtures::bake_in_progress();
        m.now = m.now.plus_millis(60 * 60 * 1000);
        m
    };
    // basic.toml's one-second bake, time up: its readings were never judged.
    let bake_over = || {
        let mut h = fixtures::basic_at_ten_percent();
        h.next(3, &fixtures::alice());
        h.model(fixtures::alice(), false, h.clock.plus_millis(5_000))
    };
    let refused: [(char, Model, &str); 11] = [
        ('R', fixtures::completed(), "roll"),
        ('p', fixtures::completed(), "pause"),
        ('p', fixtures::rolling_back(), "pause"),
        ('m', fixtures::bake_in_progress(), "resolve"),
        ('f', fixtures::bake_in_progress(), "resolve"),
        ('d', fixtures::bake_in_progress(), "not a gate"),
        ('S', fixtures::gate_no_go(), "cannot be skipped"),
        ('S', fixtures::bake_in_progress(), "cannot be skipped until it ends"),
        ('O', fixtures::bake_in_progress(), "to go"),
        ('O', review_missed(), "never confirmed"),
        ('t', fixtures::full_shift_failed_paused(), "retry"),
    ];
    for (key, mut m, about) in refused {
        let effects = update(&mut m, Msg::KeyPressed(Key::Char(key)));
        assert!(m.overlay.is_none(), "`{key}` opened a prompt for a refused command");
        assert_eq!(effects, vec![Effect::Bell], "`{key}` rings the bell and runs nothing");
        let status = m.status.clone().expect("a refusal in the status line");
        assert_eq!(status.tone, Tone::Error, "`{key}`: {}", status.text);
        assert!(
            status.text.contains("refused:") && status.text.contains(about),
            "`{key}` says why: {}",
            status.text
        );
    }
    let accepted: [(char, Model); 9] = [
        ('R', fixtures::action_failed()),
        ('R', fixtures::bake_in_progress()),
        ('p', fixtures::bake_in_progress()),
        ('m', fixtures::action_failed()),
        ('f', fixtures::action_interrupted()),
        ('d', fixtures::gate_no_go()),
        ('S', fixtures::action_failed()),
        ('O', bake_over()),
        ('t', fixtures::full_shift_failed()),
    ];
    for (key, mut m) in accepted {
        let status = m.status.clone();
        let effects = update(&mut m, Msg::KeyPressed(Key::Char(key)));
        assert!(effects.is_empty(), "`{key}` only opens a prompt: {effects:?} {:?}", m.status);
        assert!(matches!(m.overlay, Some(Overlay::Prompt(_))), "`{key}` asks: {:?}", m.status);
        assert_eq!(m.status, status, "`{key}` says nothing before asking");
    }
}

/// A footer that fits the moment (issue 13.4): only keys the engine would accept now, and
/// `R rollback` whenever a rollback is possible, at every size.
#[test]
fn the_footer_offers_only_keys_that_would_be_accepted_and_always_a_possible_rollback() {
    use flightdeck::release::Command;
    let footer = |m: &Model, w: u16, h: u16| {
        screen(m, w, h).into_iter().find(|l| l.contains("q quit")).expect("a footer")
    };
    let rollback = Command::Rollback { reason: "why".into(), confirmed: true, automatic: false };
    for (name, m) in fixtures::all() {
        if m.overlay.is_some() || m.read_only || m.release.is_none() {
            continue;
        }
        for (w, h) in SIZES {
            let line = footer(&m, w, h);
            let possible = m.refusal_of(&rollback).is_none();
            assert_eq!(line.contains("R rollback"), possible, "{name} at {w}×{h}: {line}");
            for b in &m.keymap.bindings {
                let Some((key, _)) = b.footer.split_once(' ') else { continue };
                let refused = m.key_command(b.action).is_some_and(|c| m.refusal_of(&c).is_some());
                if refused {
                    assert!(!line.contains(&format!(" {key} ")), "{name}: `{key}` refused: {line}");
                }
            }
        }
    }
    // The case: ticking a checklist at 80×24 no longer pushes the rollback off.
    let mut m = fixtures::checklist_partial();
    m.focus = Pane::Detail;
    let line = footer(&m, 80, 24);
    assert!(line.contains("Space tick") && line.contains("R rollback"), "{line}");
    // At a gate there is nothing to tick.
    let mut m = fixtures::gate_no_go();
    m.focus = Pane::Detail;
    let line = footer(&m, 80, 24);
    assert!(!line.contains("Space tick") && line.contains("a approve"), "{line}");
    // After the end, nothing to act on; while paused, `p` resumes; after a failure, retry.
    let line = footer(&fixtures::completed(), 80, 24);
    for gone in ["a approve", "n next", "s shift", "p pause", "R rollback"] {
        assert!(!line.contains(gone), "completed offers {gone}: {line}");
    }
    let line = footer(&fixtures::paused(), 80, 24);
    assert!(line.contains("p resume") && !line.contains("p pause"), "{line}");
    let line = footer(&fixtures::action_failed(), 80, 24);
    assert!(line.trim_start().starts_with("t retry"), "retry first after a failure: {line}");
}

#[test]
fn the_header_never_says_driven_by_to_the_driver_itself() {
    let mut model = team_handing_over();
    let me = model.me.clone();
    let lease = model.lease.as_mut().expect("a lease");
    (lease.operator, lease.host, lease.pid, lease.offered_to) =
        (me.name.clone(), me.host.clone(), me.pid, None);
    let header = &screen(&model, 120, 40)[0];
    assert!(header.contains("you drive"), "{header}");
    assert!(!header.contains("driven by"), "{header}");
    // Another process of the same person (a second cockpit, `flightdeck supervise`).
    if let Some(lease) = model.lease.as_mut() {
        lease.pid = me.pid + 1;
    }
    for (width, height) in SIZES {
        let header = &screen(&model, width, height)[0];
        assert!(header.contains(&format!("driven by your pid {}", me.pid + 1)), "{header}");
        assert!(!header.contains(&format!("driven by {}@", me.name)), "{header}");
    }
}

#[test]
fn the_help_shows_the_readme_remap_and_an_action_left_without_a_key() {
    use flightdeck::tui::keymap::Keymap;
    let mut model = fixtures::help();
    let overrides = [
        ("approve".to_owned(), vec!["A".to_owned()]),
        ("next".to_owned(), vec!["n".to_owned(), "enter".to_owned()]),
    ]
    .into_iter()
    .collect();
    model.keymap = Keymap::with_overrides(&overrides);
    let text = screen(&model, 120, 40).join("\n");
    let line =
        |desc: &str| text.lines().find(|l| l.contains(desc)).map(str::to_owned).unwrap_or_default();
    assert!(line("open the selected step's detail").contains("(none)"), "{text}");
    assert!(line("start or finish the current step").contains("n Enter"), "{text}");
    assert!(line("leave the cockpit").contains("q Ctrl-C"), "{text}");
}

/// The banner of an automatic rollback, after the procedure finished: at 80×24, 120×40 and
/// 200×50 it gives the whole reason (series, value, threshold, baseline, window).
#[test]
fn an_automatic_rollback_keeps_its_banner_with_the_whole_reason() {
    let model = fixtures::automatic_rollback();
    for (width, height) in [(80, 24), (120, 40), (200, 50)] {
        let terminal = draw(&model, width, height);
        insta::assert_snapshot!(format!("automatic_rollback_{width}x{height}"), terminal.backend());
        let text = rows(terminal.backend().buffer()).join("\n");
        // The banner rows, joined: the reason may wrap at 80 columns.
        let banner: String = rows(terminal.backend().buffer())
            .iter()
            .skip(2)
            .take_while(|r| !r.contains('┌') && !r.contains(" Steps "))
            .map(|r| r.trim().to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        for part in ["ROLLBACK started automatically", "error_rate 0.081", "> baseline × 1.5"] {
            assert!(banner.contains(part), "`{part}` at {width}×{height}:\n{text}");
        }
        for part in ["baseline 0.004", "12 samples over 30s", "x acknowledges"] {
            assert!(banner.contains(part), "`{part}` at {width}×{height}:\n{text}");
        }
        assert!(text.contains("x ack"), "the footer names the key at {width}×{height}:\n{text}");
    }
}

#[test]
fn acknowledging_a_banner_is_per_screen_and_the_next_one_shows() {
    use flightdeck::tui::keymap::Key;
    let mut model = fixtures::automatic_rollback();
    assert_eq!(model.banners().len(), 1);
    fixtures::press(&mut model, &[Key::Char('x')]);
    assert!(model.banners().is_empty());
    let text = screen(&model, 120, 40).join("\n");
    assert!(!text.contains("[x acknowledges]") && !text.contains("x ack "), "{text}");
    // Another operator's screen on the same release still shows it.
    assert_eq!(fixtures::automatic_rollback().banners().len(), 1);
    // A pause by flightdeck and a drift: two decisions, the newest first, one per `x`.
    let mut drifted = fixtures::drifted();
    let before = drifted.banners().len();
    assert!(before >= 1);
    fixtures::press(&mut drifted, &[Key::Char('x')]);
    assert_eq!(drifted.banners().len(), before - 1);
}

#[test]
fn a_bake_cut_short_says_it_was_stopped_by_the_rollback_and_why() {
    let mut model = fixtures::automatic_rollback();
    // Select the bake in the steps pane.
    let bake =
        model.release.as_ref().and_then(|r| r.state.steps.iter().position(|s| s.id == "bake-10"));
    model.ui.step = bake;
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains("stopped by rollback"), "{text}");
    assert!(!text.contains("(running)"), "{text}");
}

#[test]
fn the_rollback_steps_are_reachable_and_followed_while_they_run() {
    use flightdeck::tui::keymap::Key;
    let mut model = fixtures::rolling_back();
    // Following the release, the running rollback step is the one selected.
    assert_eq!(model.selected_rollback_step(), Some(0));
    for (width, height) in [(80, 24), (120, 40)] {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("rollback-1-traffic"), "in view at {width}×{height}:\n{text}");
    }
    // G, j and PgDn reach the procedure's last step; k comes back.
    fixtures::press(&mut model, &[Key::Char('g'), Key::Char('G')]);
    assert_eq!(model.selected_rollback_step(), Some(1));
    fixtures::press(&mut model, &[Key::Char('k')]);
    assert_eq!(model.selected_rollback_step(), Some(0));
    fixtures::press(&mut model, &[Key::Char('g'), Key::PageDown]);
    assert!(model.selected_rollback_step().is_some());
    for (width, height) in [(80, 24), (120, 40)] {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("rollback-2-undeploy"), "in view at {width}×{height}:\n{text}");
    }
}

#[test]
fn enter_opens_a_row_in_full_and_esc_closes_it() {
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::model::Overlay;
    let mut model = fixtures::automatic_rollback();
    while model.focus != Pane::Timeline {
        fixtures::press(&mut model, &[Key::Tab]);
    }
    // The automatic rollback's row, cut in the pane, is found by a filter and opened.
    fixtures::press(&mut model, &[Key::Char('/')]);
    fixtures::type_text(&mut model, "automatically");
    fixtures::press(&mut model, &[Key::Enter, Key::Enter]);
    assert!(matches!(model.overlay, Some(Overlay::Row(_))), "{:?}", model.overlay);
    for (width, height) in [(80, 24), (120, 40)] {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("12 samples over 30s"), "the whole row at {width}×{height}:\n{text}");
        assert!(text.contains("Esc closes"), "{text}");
    }
    fixtures::press(&mut model, &[Key::Esc]);
    assert!(model.overlay.is_none());
    // Health and Metrics rows open too.
    let mut health = fixtures::health();
    fixtures::press(&mut health, &[Key::Down, Key::Down, Key::Enter]);
    let text = screen(&health, 120, 40).join("\n");
    assert!(text.contains("connect timeout after 3s"), "{text}");
    let mut metrics = fixtures::metrics();
    fixtures::press(&mut metrics, &[Key::Enter]);
    assert!(matches!(metrics.overlay, Some(Overlay::Row(_))));
}

#[test]
fn slash_filters_the_focused_pane_as_you_type_and_esc_clears_it() {
    use flightdeck::tui::keymap::Key;
    // Health: live, every key.
    let mut model = fixtures::health();
    fixtures::press(&mut model, &[Key::Char('/'), Key::Char('l')]);
    assert_eq!(model.ui.health_filter, "l");
    fixtures::type_text(&mut model, "b");
    assert_eq!(model.health_rows().len(), 1, "only lb matches");
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains("Health /lb"), "{text}");
    assert!(text.contains("Enter keeps"), "the bottom line says how: {text}");
    fixtures::press(&mut model, &[Key::Esc]);
    assert!(model.ui.health_filter.is_empty() && model.line.is_none());
    assert_eq!(model.health_rows().len(), model.probes.health.len());
    // Metrics: Enter keeps it.
    let mut model = fixtures::metrics();
    fixtures::press(&mut model, &[Key::Char('/')]);
    fixtures::type_text(&mut model, "latency");
    fixtures::press(&mut model, &[Key::Enter]);
    assert_eq!(model.ui.metrics_filter, "latency");
    assert!(model.line.is_none());
    assert_eq!(model.metric_rows().len(), 1);
    // Esc, later, clears the kept filter.
    fixtures::press(&mut model, &[Key::Esc]);
    assert!(model.ui.metrics_filter.is_empty());
    // Steps: the filter hides the steps it does not match; j moves among those it keeps.
    let mut model = fixtures::rolled_back();
    fixtures::press(&mut model, &[Key::Char('/')]);
    fixtures::type_text(&mut model, "shift");
    fixtures::press(&mut model, &[Key::Enter]);
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains("✓ shift-10") && !text.contains("✓ backup"), "{text}");
    // The detail pane has nothing to filter: it says so.
    fixtures::press(&mut model, &[Key::Enter, Key::Char('/')]);
    assert!(model.line.is_none());
    assert!(model.status.as_ref().is_some_and(|s| s.text.contains("no rows to filter")));
}

#[test]
fn the_command_line_runs_verbs_through_the_keys_dialogs() {
    use flightdeck::release::Command;
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::model::Overlay;
    use flightdeck::tui::update::update;
    let command = |line: &str, model: &mut flightdeck::tui::model::Model| {
        fixtures::press(model, &[Key::Char(':')]);
        fixtures::type_text(model, line);
        update(model, flightdeck::tui::msg::Msg::KeyPressed(Key::Enter))
    };
    // `:note text` records the note at once.
    let mut model = fixtures::bake_in_progress();
    let effects = command("note db failover done", &mut model);
    assert!(
        matches!(effects.as_slice(), [Effect::Execute { command: Command::Note { text }, .. }] if text == "db failover done"),
        "{effects:?}"
    );
    // `:rollback why` fills the reason and waits for the typed service name, as `R` does.
    let mut model = fixtures::bake_in_progress();
    let effects = command("rollback 5xx climbing", &mut model);
    assert!(effects.is_empty(), "{effects:?}");
    let Some(Overlay::Prompt(prompt)) = &model.overlay else { panic!("{:?}", model.overlay) };
    assert_eq!(prompt.fields[0].value, "5xx climbing");
    assert_eq!(prompt.active, 1);
    assert!(prompt.fields[1].must_equal.is_some());
    // Refused before asking: `:pause` on a paused release says so, no dialog.
    let mut model = fixtures::paused();
    let effects = command("pause again", &mut model);
    assert!(model.overlay.is_none());
    assert!(effects.contains(&Effect::Bell));
    // An unknown verb is a clear error; Tab completes a verb.
    let mut model = fixtures::bake_in_progress();
    command("launch", &mut model);
    let status = model.status.clone().expect("said").text;
    assert!(status.contains("unknown command `launch`"), "{status}");
    fixtures::press(&mut model, &[Key::Char(':'), Key::Char('r'), Key::Char('o'), Key::Tab]);
    assert_eq!(model.line.as_ref().map(|l| l.text.as_str()), Some("rollback "));
    let text = screen(&model, 80, 24).join("\n");
    assert!(text.contains(":rollback") && text.contains("Tab completes"), "{text}");
    // Read-only: the command is refused like its key.
    let mut model = fixtures::read_only();
    let effects = command("note hello", &mut model);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Execute { .. })), "{effects:?}");
    assert!(model.status.is_some_and(|s| s.text.contains("read-only")));
}

#[test]
fn a_click_focuses_a_pane_and_selects_its_row_and_the_wheel_scrolls() {
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let mut model = fixtures::health();
    update(&mut model, Msg::Clicked { pane: Pane::Health, row: Some(2), height: 5 });
    assert_eq!((model.focus, model.ui.health), (Pane::Health, 2));
    update(&mut model, Msg::Clicked { pane: Pane::Metrics, row: Some(1), height: 8 });
    assert_eq!((model.focus, model.ui.metric), (Pane::Metrics, 1));
    // The timeline is drawn from the bottom: the top row of a full pane is the oldest shown.
    update(&mut model, Msg::Clicked { pane: Pane::Timeline, row: Some(0), height: 5 });
    assert_eq!((model.focus, model.ui.timeline_back), (Pane::Timeline, 4));
    update(&mut model, Msg::Scrolled { pane: Pane::Timeline, up: false });
    assert_eq!(model.ui.timeline_back, 1);
    // Steps: a click on a step's line selects it (line 0 is the stage heading).
    update(&mut model, Msg::Clicked { pane: Pane::Steps, row: Some(1), height: 30 });
    assert_eq!((model.focus, model.ui.step), (Pane::Steps, Some(0)));
    // Over a dialog, a click does nothing.
    fixtures::press(&mut model, &[flightdeck::tui::keymap::Key::Char('?')]);
    update(&mut model, Msg::Clicked { pane: Pane::Output, row: None, height: 5 });
    assert_eq!(model.focus, Pane::Steps);
}

#[test]
fn the_bell_rings_when_a_probe_goes_down_and_when_an_action_fails() {
    use flightdeck::probe::HealthReading;
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let mut model = fixtures::bake_in_progress();
    let down = |at| HealthReading {
        at,
        status_code: None,
        latency_ms: 3000,
        version: None,
        checks: Vec::new(),
        error: Some("connect timeout after 3s".into()),
    };
    let now = model.now;
    let mut rang = Vec::new();
    for i in 0..5 {
        let effects =
            update(&mut model, Msg::HealthChecked { index: 0, reading: down(now.plus_millis(i)) });
        rang.push(effects.contains(&Effect::Bell));
    }
    // Once, when it goes DOWN: not at every failed check after.
    assert_eq!(rang.iter().filter(|r| **r).count(), 1, "{rang:?}");
    let effects = update(&mut model, Msg::ActionsFinished { error: Some("exit 1".into()) });
    assert!(effects.contains(&Effect::Bell), "{effects:?}");
    let effects = update(&mut model, Msg::ActionsFinished { error: None });
    assert!(!effects.contains(&Effect::Bell), "{effects:?}");
}

#[test]
fn tab_on_an_ambiguous_verb_lists_the_choices_on_the_line() {
    use flightdeck::tui::keymap::Key;
    let mut model = fixtures::bake_in_progress();
    fixtures::press(&mut model, &[Key::Char(':'), Key::Char('r'), Key::Char('e'), Key::Tab]);
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains(":re▏  resume revoke retry report replay releases"), "{text}");
    // The next key takes them away.
    fixtures::press(&mut model, &[Key::Char('s')]);
    let text = screen(&model, 120, 40).join("\n");
    assert!(text.contains(":res▏  Tab completes"), "{text}");
}

/// The `:` line is drawn over the status line: a longer status must not show through after
/// what is typed (it read `:note▏ Tab completes … Esc closesne); the last one left …`).
#[test]
fn the_command_line_hides_the_status_line_under_it() {
    use flightdeck::tui::model::{LineEdit, LineKind, StatusLine, Tone};
    let mut m = fixtures::fresh();
    m.status = Some(StatusLine { text: "x".repeat(70) + "TAIL-OF-THE-STATUS", tone: Tone::Ok });
    m.line = Some(LineEdit { kind: LineKind::Command, text: "no".into(), choices: Vec::new() });
    for (width, height) in [(80, 24), (120, 40)] {
        let text = screen(&m, width, height);
        let last = text.last().cloned().unwrap_or_default();
        assert!(last.contains(":no"), "{last}");
        assert!(!last.contains("TAIL") && !last.contains("xxxx"), "{last}");
    }
}

/// An action step's Detail shows what will run: the placeholders the release knows are
/// filled (it showed `--version {version}`); those known only at run time stay.
#[test]
fn an_action_step_shows_its_command_with_the_release_filled_in() {
    let mut m = fixtures::bake_in_progress();
    m.ui.step = Some(0);
    let text = screen(&m, 200, 50).join("\n");
    assert!(text.contains("--version 1.4.0"), "{text}");
    assert!(!text.contains("{version}") && !text.contains("{image}"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Rolling deploys and platform swaps (issue 16): the screen says what the strategy means.
// ---------------------------------------------------------------------------------------

/// The line under the header, at both sizes.
fn production_line(model: &Model) -> Vec<String> {
    SIZES.iter().map(|(w, h)| screen(model, *w, *h)[1].clone()).collect()
}

/// The keys line (the one with `q quit`).
fn footer_line(model: &Model, width: u16, height: u16) -> String {
    screen(model, width, height).into_iter().find(|l| l.contains("q quit")).expect("a footer")
}

#[test]
fn a_rolling_deploy_mid_rollout_shows_its_pods_never_a_traffic_share() {
    let model = fixtures::rolling_mid_rollout();
    snapshot("rolling_mid_rollout", &model);
    for line in production_line(&model) {
        assert!(line.contains("rolling 2/3 pods on 1.4.0"), "{line}");
        assert!(line.contains("1.3.2 █"), "the bar starts from the old version: {line}");
        assert!(!line.contains("traffic") && !line.contains(" | "), "{line}");
    }
    for (width, height) in SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(
            text.contains("2/3 pods"),
            "the running segment's row at {width}×{height}:\n{text}"
        );
        assert!(text.contains("deploy: roll 1.4.0 out to"), "{text}");
        assert!(text.contains("paced: segment 2 of 3"), "{text}");
        assert!(text.contains("--to=67%"), "{{target}} is filled in the command:\n{text}");
    }
    let wide = screen(&model, 120, 40).join("\n");
    assert!(wide.contains("roll-67: 2/3 pods on the new version"), "a timeline row:\n{wide}");
    assert!(wide.contains("roll-33: 1/3 pods on the new version"), "{wide}");
}

#[test]
fn a_rolling_plan_never_offers_shift_and_s_says_why() {
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    for mut model in [
        fixtures::rolling_baseline_wait(),
        fixtures::rolling_mid_rollout(),
        fixtures::rolling_at_last_segment(),
    ] {
        for (width, height) in SIZES {
            let line = footer_line(&model, width, height);
            assert!(!line.contains(" s shift"), "{line}");
        }
        assert!(update(&mut model, Msg::KeyPressed(Key::Char('s'))).is_empty(), "s does nothing");
        let status = model.status.as_ref().map(|s| s.text.clone()).unwrap_or_default();
        assert_eq!(status, "no traffic to shift in a rolling deploy; n starts the deploy step");
        assert!(model.overlay.is_none(), "nothing asks");
    }
    // The traffic plan still offers it where a shift is next.
    let line = footer_line(&fixtures::traffic_50(), 120, 40);
    assert!(!line.is_empty());
}

#[test]
fn the_help_of_a_rolling_plan_lists_its_keys_without_shift() {
    use flightdeck::tui::keymap::Key;
    let mut model = fixtures::rolling_mid_rollout();
    fixtures::press(&mut model, &[Key::Char('?')]);
    snapshot("rolling_help", &model);
    let mut rows = Vec::new();
    for scroll in 0..=model.keymap.bindings.len() {
        let mut page = model.clone();
        page.ui.help_scroll = scroll;
        rows.extend(screen(&page, 80, 24));
    }
    let text = rows.join("\n");
    assert!(!text.contains("shift traffic"), "{text}");
    assert!(text.contains("rolling deploy (all of production"), "{text}");
    assert!(text.contains("where the rolling deploy stands"), "{text}");
}

#[test]
fn the_first_deploy_counts_down_the_baseline_it_waits_for() {
    let model = fixtures::rolling_baseline_wait();
    snapshot("rolling_baseline_wait", &model);
    for (width, height) in SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("baseline 1m20s"), "the step row at {width}×{height}:\n{text}");
        assert!(text.contains("baseline: latency, errors"), "the detail:\n{text}");
        assert!(text.contains("1m20s to"), "the detail:\n{text}");
    }
    for line in production_line(&model) {
        assert!(line.contains("0 pods on 1.4.0") && !line.contains('░'), "{line}");
    }
    // Once the window has passed with no capture recorded, the capture is due.
    let mut later = model.clone();
    later.now = later.now.plus_millis(90_000);
    let text = screen(&later, 120, 40).join("\n");
    assert!(text.contains("baseline due"), "{text}");
    assert!(text.contains("its window has passed"), "{text}");
}

#[test]
fn a_deploy_to_all_of_production_asks_for_the_service_name_like_a_full_shift() {
    use flightdeck::release::Command;
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    for (mut model, title) in [
        (fixtures::rolling_at_last_segment(), "Roll shop 1.4.0 out to ALL of production?"),
        (fixtures::swap_at_deploy(), "Swap ALL of production to shop 1.4.0?"),
    ] {
        assert!(update(&mut model, Msg::KeyPressed(Key::Char('n'))).is_empty(), "n asks first");
        let text = screen(&model, 80, 24).join("\n");
        assert!(text.contains(title), "{text}");
        fixtures::type_text(&mut model, "shop");
        match update(&mut model, Msg::KeyPressed(Key::Enter)).as_slice() {
            [Effect::Execute { command, .. }] => {
                assert_eq!(*command, Command::Next { confirmed: true });
            }
            other => panic!("expected the confirmed deploy, got {other:?}"),
        }
    }
    // A paced segment short of 100% starts at once, like an action.
    let mut model = fixtures::rolling_at_first_segment();
    match update(&mut model, Msg::KeyPressed(Key::Char('n'))).as_slice() {
        [Effect::Execute { command, .. }] => {
            assert_eq!(*command, Command::Next { confirmed: false });
        }
        other => panic!("expected the segment to start, got {other:?}"),
    }
}

#[test]
fn a_swap_says_which_version_serves_before_during_and_after() {
    let before = fixtures::swap_at_deploy();
    snapshot("swap_at_deploy", &before);
    for line in production_line(&before) {
        assert!(line.contains("1.3.2 serving · not swapped yet to 1.4.0"), "{line}");
    }
    for line in production_line(&fixtures::swapping()) {
        assert!(line.contains("1.3.2 serving · swapping to 1.4.0 since 11:11"), "{line}");
    }
    let done = fixtures::swap_done();
    snapshot("swap_done", &done);
    for line in production_line(&done) {
        assert!(line.contains("swapped to 1.4.0 at 11:13 (from 1.3.2)"), "{line}");
        assert!(!line.contains('%'), "no percentage for a swap: {line}");
    }
}

#[test]
fn a_completed_release_counts_down_its_watch_and_then_says_closed() {
    let model = fixtures::completed_watching();
    snapshot("completed_watching", &model);
    for (width, height) in SIZES {
        let header = &screen(&model, width, height)[0];
        assert!(header.contains("COMPLETED · watching 23h12m left"), "{header}");
    }
    let mut later = model.clone();
    later.now = later.now.plus_millis(24 * 3_600_000);
    for (width, height) in SIZES {
        let header = &screen(&later, width, height)[0];
        assert!(header.contains("COMPLETED · closed"), "{header}");
    }
    // A completed release without [watch] says neither.
    let header = &screen(&fixtures::completed(), 120, 40)[0];
    assert!(!header.contains("watching") && !header.contains("closed"), "{header}");
}

#[test]
fn retrying_a_failed_swap_asks_for_the_service_name_like_the_first_attempt() {
    use flightdeck::release::Command;
    use flightdeck::tui::effect::Effect;
    use flightdeck::tui::keymap::Key;
    use flightdeck::tui::msg::Msg;
    use flightdeck::tui::update::update;
    let mut model = fixtures::swap_failed();
    assert!(update(&mut model, Msg::KeyPressed(Key::Char('t'))).is_empty(), "t asks first");
    let text = screen(&model, 80, 24).join("\n");
    assert!(text.contains("Retry: swap ALL of production to shop 1.4.0?"), "{text}");
    fixtures::type_text(&mut model, "shop");
    match update(&mut model, Msg::KeyPressed(Key::Enter)).as_slice() {
        [Effect::Execute { command, .. }] => {
            assert_eq!(*command, Command::Retry { confirmed: true })
        }
        other => panic!("expected the confirmed retry, got {other:?}"),
    }
}

#[test]
fn h_on_a_rolling_plan_lists_the_deploy_steps_and_where_the_rollout_stands() {
    use flightdeck::tui::keymap::Key;
    let mut model = fixtures::rolling_mid_rollout();
    fixtures::press(&mut model, &[Key::Char('h')]);
    for (width, height) in SIZES {
        let text = screen(&model, width, height).join("\n");
        assert!(text.contains("Deploy (any key closes)"), "{text}");
        assert!(text.contains("Roll out to 33%  to  33%  11:11:45–11:12:20"), "{text}");
        assert!(text.contains("Roll out to 67%  to  67%  since 11:14:35"), "{text}");
        assert!(text.contains("Roll out         to 100%  not started"), "{text}");
        assert!(!text.contains("Traffic history"), "{text}");
    }
}

/// A rollout nothing has read yet draws no bar: an empty one would say 0% rolled out, which
/// nobody measured.
#[test]
fn a_rollout_with_nothing_read_yet_draws_no_bar() {
    for line in production_line(&fixtures::rolling_started()) {
        assert!(line.contains("rolling") && line.contains("1.4.0"), "{line}");
        assert!(!line.contains('█') && !line.contains('░'), "{line}");
    }
}

/// After a rollback the last reading no longer says where the pods are: the line says it was
/// rolled back, with no bar.
#[test]
fn a_rolled_back_rollout_draws_no_bar() {
    for line in production_line(&fixtures::rolling_rolled_back()) {
        assert!(line.contains("rolled back") && line.contains("1.4.0"), "{line}");
        assert!(!line.contains('█') && !line.contains('░'), "{line}");
    }
}
