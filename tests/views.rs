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
        assert!(text.contains("claimed by bob until 11:44 UTC"), "detail at {width}×{height}");
    }
    // Twenty minutes on, both claims have lapsed: the steps pane no longer shows them.
    let mut later = model.clone();
    later.now = later.now.plus_millis(20 * 60 * 1000);
    let text = screen(&later, 120, 40).join("\n");
    assert!(!text.contains('⚑'), "lapsed claims are not shown:\n{text}");
    assert!(text.contains("bob's claim lapsed at 11:44 UTC"), "{text}");
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
        let rows = screen(&model, width, height);
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
