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
