//! Replay and history in the cockpit: scrubbing rewinds every pane's state to the chosen
//! event, live news keeps arriving underneath, acting is refused, and `v` returns to the
//! present. Driven through `update` with real event histories.

mod support;

use flightdeck::release::{Command, State, Status};
use flightdeck::tui::keymap::Key;
use flightdeck::tui::msg::Msg;
use flightdeck::tui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::fixtures::{alice, basic_at_ten_percent, press};

fn screen(model: &flightdeck::tui::model::Model) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    terminal.draw(|f| flightdeck::tui::view::render(f, model)).expect("draw");
    terminal.backend().to_string()
}

#[test]
fn replay_rewinds_every_pane_and_returns_to_live() {
    let history = basic_at_ten_percent();
    let mut model = history.model(alice(), false, history.clock);
    assert_eq!(model.release.as_ref().map(|r| r.state.weight), Some(10));

    let effects = update(&mut model, Msg::KeyPressed(Key::Char('v')));
    assert!(!effects.is_empty(), "v asks the loop for the history");
    let id = model.release.as_ref().map_or(0, |r| r.id);
    update(
        &mut model,
        Msg::ReplayLoaded { id, records: history.records.clone(), samples: Vec::new() },
    );
    let last = history.records.len();
    assert!(screen(&model).contains(&format!("REPLAY {last}/{last}")));

    // Back past the weight change: traffic is 0% again, and the shift is not done.
    let shift_at = history
        .records
        .iter()
        .position(|r| matches!(r.event, flightdeck::release::Event::WeightSet { .. }))
        .expect("a weight change");
    for _ in shift_at..last {
        update(&mut model, Msg::KeyPressed(Key::Left));
    }
    let replayed = &model.release.as_ref().expect("release").state;
    assert_eq!(replayed.weight, 0);
    assert_eq!(*replayed, State::replay(&history.plan, &history.records[..shift_at]));
    let text = screen(&model);
    assert!(text.contains(&format!("REPLAY {shift_at}/{last}")), "{text}");
    assert!(text.contains("100 | 0 green"), "the traffic bar is rewound too:\n{text}");

    // Acting is refused while replaying.
    update(&mut model, Msg::KeyPressed(Key::Char('a')));
    let status = model.status.as_ref().map(|s| s.text.clone()).unwrap_or_default();
    assert!(status.contains("replay"), "{status}");

    // News from the store lands in the live view, not in the replayed one.
    let mut live = history.state.clone();
    let note = flightdeck::release::EventRecord {
        seq: live.seq + 1,
        at: history.clock,
        actor: alice(),
        event: flightdeck::release::Event::NoteAdded { text: "while replaying".into() },
    };
    flightdeck::release::apply(&mut live, &note);
    update(
        &mut model,
        Msg::ReleaseChanged {
            id,
            plan: Box::new(history.plan.clone()),
            state: Box::new(live.clone()),
            records: vec![note],
        },
    );
    assert_eq!(model.release.as_ref().map(|r| r.state.weight), Some(0), "still showing the past");

    press(&mut model, &[Key::Char('v')]);
    assert!(model.replay.is_none());
    let release = model.release.as_ref().expect("live");
    assert_eq!(release.state, live, "back to the present, including the news");
    assert_eq!(release.state.status, Status::Running);
    assert!(screen(&model).contains("while replaying"));
}

#[test]
fn a_finished_release_opened_from_the_list_is_read_only() {
    let mut history = basic_at_ten_percent();
    history.run(
        5,
        &alice(),
        Command::Rollback { reason: "demo".into(), confirmed: true, automatic: false },
    );
    history.succeed(1, "rollback-1-traffic", 1, "weight=0").succeed(
        1,
        "rollback-2-undeploy",
        1,
        "gone",
    );
    assert_eq!(history.state.status, Status::RolledBack);
    let view = history.model(alice(), false, history.clock).release.expect("release");
    let mut model = basic_at_ten_percent().model(alice(), false, history.clock);
    update(&mut model, Msg::ReleaseOpened(Box::new(view)));
    assert!(model.viewing_past);
    update(&mut model, Msg::KeyPressed(Key::Char('n')));
    let status = model.status.as_ref().map(|s| s.text.clone()).unwrap_or_default();
    assert!(status.contains("read-only"), "{status}");
    assert!(screen(&model).contains("READ-ONLY"));
}

#[test]
fn a_committed_note_is_not_called_a_note_twice() {
    let history = basic_at_ten_percent();
    let mut model = history.model(alice(), false, history.clock);
    let mut state = history.state.clone();
    let note = flightdeck::release::EventRecord {
        seq: state.seq + 1,
        at: history.clock,
        actor: alice(),
        event: flightdeck::release::Event::NoteAdded { text: "db looks fine".into() },
    };
    flightdeck::release::apply(&mut state, &note);
    update(
        &mut model,
        Msg::Committed { verb: "note".into(), records: vec![note], state: Box::new(state) },
    );
    let status = model.status.as_ref().map(|s| s.text.clone()).unwrap_or_default();
    assert_eq!(status, "note: db looks fine");
}

/// Replay never acts (issue 13, item 6): while the panes show the past, what the loop is
/// asked to automate is decided on the live release (`Model::live`), never on the replayed
/// one, and a tick asks for no command at all.
#[test]
fn replay_never_acts_the_tick_decides_on_the_live_release() {
    use flightdeck::tui::effect::Effect;
    let history = basic_at_ten_percent();
    let mut model = history.model(alice(), false, history.clock);
    let id = model.release.as_ref().map_or(0, |r| r.id);
    update(&mut model, Msg::KeyPressed(Key::Char('v')));
    update(
        &mut model,
        Msg::ReplayLoaded { id, records: history.records.clone(), samples: Vec::new() },
    );
    // Scrub back to the first event: the past is a release that has only just started.
    for _ in 1..history.records.len() {
        update(&mut model, Msg::KeyPressed(Key::Left));
    }
    let replayed_seq = model.release.as_ref().map(|r| r.state.seq);
    assert_eq!(replayed_seq, Some(history.records[0].seq));
    let (live, _) = model.live().expect("a live release");
    assert_eq!(live.state, history.state, "live() is the present, not the replayed past");

    let effects = update(&mut model, Msg::Tick { now: history.clock.plus_millis(1000) });
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Execute { .. })),
        "a tick in replay asks for no command: {effects:?}"
    );
    assert!(effects.contains(&Effect::Automate), "the live release still runs: {effects:?}");

    // The live release rolls back while the person scrubs the past, where it still runs:
    // automation is decided on the live one, which is finished, so nothing is asked.
    let mut finished = basic_at_ten_percent();
    finished.run(
        5,
        &alice(),
        Command::Rollback { reason: "bad".into(), confirmed: true, automatic: false },
    );
    finished.succeed(1, "rollback-1-traffic", 1, "weight=0").succeed(
        1,
        "rollback-2-undeploy",
        1,
        "gone",
    );
    assert_eq!(finished.state.status, Status::RolledBack);
    let news = finished.records[history.records.len()..].to_vec();
    update(
        &mut model,
        Msg::ReleaseChanged {
            id,
            plan: Box::new(history.plan.clone()),
            state: Box::new(finished.state.clone()),
            records: news,
        },
    );
    assert_eq!(model.release.as_ref().map(|r| r.state.status), Some(Status::Running));
    assert_eq!(model.live().map(|(r, _)| r.state.status), Some(Status::RolledBack));
    let effects = update(&mut model, Msg::Tick { now: finished.clock.plus_millis(1000) });
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Automate | Effect::Execute { .. })),
        "nothing is automated from the replayed (running) past: {effects:?}"
    );
}
