//! The demo's simulated people: sam, a colleague who approves gates in the interactive demo,
//! and the headless operator who plays a whole release to its end. Both act only through
//! `store::execute`, exactly like keys and CLI verbs.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Scenario, Setup};
use crate::cli::summary;
use crate::plan::StepKind;
use crate::release::{Actor, Command, State, Status, StepStatus};
use crate::store::{self, Store};
use crate::{action, automation, clock, identity};

/// Longest a headless demo may run before it gives up.
const HEADLESS_LIMIT: Duration = Duration::from_secs(600);
/// How often the headless operator looks at the release.
const OPERATOR_POLL: Duration = Duration::from_millis(250);
/// How long sam waits after a gate opens before approving.
const COLLEAGUE_DELAY_MS: u64 = 3000;
/// How often sam looks at the release.
const COLLEAGUE_POLL: Duration = Duration::from_secs(1);

fn demo_actor(name: &str) -> Actor {
    let mut actor = identity::current_actor(None);
    actor.name = name.to_owned();
    actor
}

/// sam approves every gate a few seconds after it opens.
pub fn spawn_colleague(store: Store, release_id: i64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let sam = demo_actor("sam (demo)");
        // A load parses the plan and folds events: only when the release moved.
        let mut cached: Option<(u64, store::Loaded)> = None;
        loop {
            tokio::time::sleep(COLLEAGUE_POLL).await;
            let Ok(seq) = store.last_seq(release_id).await else { continue };
            if cached.as_ref().is_none_or(|(s, _)| *s != seq) {
                let Ok(loaded) = store.load(release_id).await else { continue };
                cached = Some((seq, loaded));
            }
            let Some((_, loaded)) = &cached else { continue };
            let state = &loaded.state;
            if state.status.is_terminal() {
                return;
            }
            let Some(step) = loaded.plan.flat_steps().get(state.cursor).copied() else { continue };
            let Some(s) = state.current() else { continue };
            let open_for = s.current_since.map_or(0, |t| clock::now().millis_since(t));
            if matches!(step.step.kind, StepKind::Gate { .. })
                && s.status == StepStatus::Waiting
                && !s.approvals.contains_key(&sam.name)
                && s.declines.is_empty()
                && open_for >= COLLEAGUE_DELAY_MS
            {
                let _ =
                    store::execute(&store, release_id, &Command::Approve, &sam, None, clock::now)
                        .await;
            }
        }
    })
}

/// What the headless operator does next, given the state.
pub fn operator_move(plan: &crate::plan::Plan, state: &State) -> Vec<(Command, &'static str)> {
    let alice = "alice";
    let sam = "sam";
    match state.status {
        Status::Running => {}
        Status::Paused => {
            let why = state.pause.as_ref().map_or_else(String::new, |p| p.reason.clone());
            return vec![(
                Command::Rollback {
                    reason: format!("demo operator: paused ({why}); rolling back"),
                    confirmed: true,
                    automatic: false,
                },
                alice,
            )];
        }
        _ => return Vec::new(),
    }
    let Some(step) = plan.flat_steps().get(state.cursor).copied() else { return Vec::new() };
    let Some(s) = state.current() else { return Vec::new() };
    match (&step.step.kind, s.status) {
        (_, StepStatus::Failed | StepStatus::Interrupted) => vec![(
            Command::Rollback {
                reason: format!("demo operator: `{}` {}", s.id, s.status.as_str()),
                confirmed: true,
                automatic: false,
            },
            alice,
        )],
        (StepKind::Checklist { items }, StepStatus::Waiting) => {
            let mut moves: Vec<(Command, &'static str)> = items
                .iter()
                .filter(|i| !s.ticks.contains_key(&i.id))
                .map(|i| (Command::Tick { item: i.id.clone() }, alice))
                .collect();
            moves.push((Command::Next { confirmed: false }, alice));
            moves
        }
        (StepKind::Gate { .. }, StepStatus::Waiting) => {
            let mut moves = Vec::new();
            for who in [alice, sam] {
                if !s.approvals.keys().any(|k| k.starts_with(who)) {
                    moves.push((Command::Approve, who));
                }
            }
            moves.push((Command::Next { confirmed: false }, alice));
            moves
        }
        (
            StepKind::Action { .. } | StepKind::Traffic { .. } | StepKind::Bake { .. },
            StepStatus::Waiting,
        ) => {
            vec![(Command::Next { confirmed: true }, alice)]
        }
        _ => Vec::new(),
    }
}

/// Plays the release to its end without a screen, printing events as they are recorded.
pub async fn run_headless(setup: &Setup, scenario: Scenario) -> u8 {
    let me = identity::current_actor(None);
    let automation_actor = Actor::automation(&me.account, &me.host, me.pid);
    let alice = demo_actor("alice (demo)");
    let sam = demo_actor("sam (demo)");
    let client = action::http_client(Duration::from_secs(30));
    let cancel = CancellationToken::new();
    let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<String>();
    let printer = tokio::spawn(async move {
        while let Some(line) = lines_rx.recv().await {
            println!("         | {line}");
        }
    });
    // Readings go to the store too: a bake passes only on stored evidence.
    let versions = match setup.store.load(setup.release_id).await {
        Ok(l) => crate::probe::Versions {
            new: l.state.info.as_ref().map(|i| i.version.clone()),
            old: l.state.info.as_ref().and_then(|i| i.previous_version.clone()),
        },
        Err(_) => crate::probe::Versions::default(),
    };
    let watch = super::watch::Watch::start(
        &setup.plan,
        versions,
        Some((setup.store.clone(), setup.release_id)),
        cancel.clone(),
    );
    println!(
        "demo `{}`: release {} of {} on {} (blue), {} (green), lb {}",
        scenario.name(),
        setup.release_id,
        setup.plan.service.name,
        setup.fleet.blue_url,
        setup.fleet.green_url,
        setup.fleet.lb_url
    );
    let started = clock::instant();
    let mut printed = 0;
    let code = loop {
        if started.elapsed() > HEADLESS_LIMIT {
            eprintln!("flightdeck: the demo did not finish within {}s", HEADLESS_LIMIT.as_secs());
            break crate::cli::EXIT_ERROR;
        }
        let loaded = match setup.store.load(setup.release_id).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("flightdeck: {e}");
                break crate::cli::EXIT_ERROR;
            }
        };
        if let Ok(events) = setup.store.events_after(setup.release_id, printed).await {
            for e in &events {
                println!("{}", summary::event_line(e));
            }
            printed = events.last().map_or(printed, |e| e.seq);
        }
        if loaded.state.status.is_terminal() {
            print!(
                "\n{}",
                summary::status_text(&loaded.plan, &loaded.state, &loaded.row, clock::now())
            );
            break crate::cli::EXIT_OK;
        }
        let mut board = watch.board();
        board.sync(&loaded.state);
        if let Some(due) = automation::due(
            &loaded.plan,
            &loaded.state,
            clock::now(),
            &me,
            identity::process_alive,
            &board,
        ) {
            let _ = store::execute(
                &setup.store,
                setup.release_id,
                &due.command,
                &automation_actor,
                due.expect_seq,
                clock::now,
            )
            .await;
            continue;
        }
        for who in [&alice, &sam] {
            if !action::claims_of(&loaded.plan, &loaded.state, who).is_empty() {
                let _ = action::drive_claims(
                    &setup.store,
                    setup.release_id,
                    who,
                    &client,
                    &lines_tx,
                    &cancel,
                )
                .await;
            }
        }
        let mut acted = false;
        for (command, who) in operator_move(&loaded.plan, &loaded.state) {
            let actor = if who == "sam" { &sam } else { &alice };
            if store::execute(&setup.store, setup.release_id, &command, actor, None, clock::now)
                .await
                .is_ok()
            {
                acted = true;
            }
        }
        if !acted {
            tokio::time::sleep(OPERATOR_POLL).await;
        }
    };
    cancel.cancel();
    drop(lines_tx);
    let _ = printer.await;
    code
}
