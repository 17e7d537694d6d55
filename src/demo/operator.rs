//! The demo's simulated people: sam, a colleague who approves gates in the interactive demo,
//! and the headless operator who plays a whole release to its end. Both act only through
//! the supervisor, exactly like keys and CLI verbs.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Scenario, Setup};
use crate::cli::summary;
use crate::plan::StepKind;
use crate::release::{Actor, Command, State, Status, StepStatus, WatchState, watch_state};
use crate::store::{self, Store};
use crate::supervisor::probes::LiveBoard;
use crate::supervisor::{Report, Submit, Supervisor};
use crate::{clock, identity};

/// Longest a headless demo may run before it gives up.
const HEADLESS_LIMIT: Duration = Duration::from_secs(600);
/// How often the headless operator looks at the release.
const OPERATOR_POLL: Duration = Duration::from_millis(250);
/// How long after its window ends the headless operator waits for automation to record the
/// watch closed before it stops anyway (a supervisor that never closes it must not hang it).
const WATCH_CLOSE_GRACE_MS: u64 = 10_000;
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
        let mut supervisor = Supervisor::new(store.clone(), sam.clone());
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
                let approve = Submit {
                    release_id,
                    command: Command::Approve,
                    actor: sam.clone(),
                    expect_seq: None,
                    seen_step: None,
                    verb: "approve".into(),
                };
                let _ = supervisor.execute(approve).await;
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
            // As many of the two as the gate needs: a one-approval gate shows one approver.
            let needed =
                state.info.as_ref().map_or(2, |i| plan.approvals_needed(step.step, i.release_type));
            let mut moves = Vec::new();
            for who in [alice, sam].into_iter().take(usize::try_from(needed).unwrap_or(2)) {
                if !s.approvals.keys().any(|k| k.starts_with(who)) {
                    moves.push((Command::Approve, who));
                }
            }
            moves.push((Command::Next { confirmed: false }, alice));
            moves
        }
        (
            StepKind::Action { .. }
            | StepKind::Deploy { .. }
            | StepKind::Traffic { .. }
            | StepKind::Bake { .. },
            StepStatus::Waiting,
        ) => {
            vec![(Command::Next { confirmed: true }, alice)]
        }
        _ => Vec::new(),
    }
}

/// Plays the release to its end without a screen, printing events as they are recorded.
/// It drives through the same supervisor as the cockpit and `flightdeck supervise`: its
/// readings are recorded, automation decides bakes and breaches, webhooks are sent.
pub async fn run_headless(setup: &Setup, scenario: Scenario) -> u8 {
    let me = identity::current_actor(None);
    let alice = demo_actor("alice (demo)");
    let sam = demo_actor("sam (demo)");
    let id = setup.release_id;
    let mut supervisor = Supervisor::new(setup.store.clone(), me);
    let cancel = CancellationToken::new();
    let state = match setup.store.load(id).await {
        Ok(loaded) => loaded.state,
        Err(e) => {
            eprintln!("flightdeck: {e}");
            return crate::cli::EXIT_ERROR;
        }
    };
    let watch = LiveBoard::start(
        &setup.plan,
        &state,
        Some((setup.store.clone(), id)),
        Some(supervisor.reporter()),
        cancel.clone(),
    )
    .await;
    let fleet = &setup.fleet;
    let on = match scenario.strategy() {
        crate::plan::Strategy::Traffic => {
            format!("{} (blue), {} (green), lb {}", fleet.blue_url, fleet.green_url, fleet.lb_url)
        }
        crate::plan::Strategy::Rolling | crate::plan::Strategy::Swap => {
            format!("{} ({} pods)", fleet.app.url, super::rollout::PODS)
        }
    };
    println!("demo `{}`: release {} of {} on {on}", scenario.name(), id, setup.plan.service.name);
    let started = clock::instant();
    let mut printed = 0;
    let mut announced_watch = false;
    let code = loop {
        if started.elapsed() > HEADLESS_LIMIT {
            eprintln!("flightdeck: the demo did not finish within {}s", HEADLESS_LIMIT.as_secs());
            break crate::cli::EXIT_ERROR;
        }
        while let Some(report) = supervisor.try_next() {
            print_output(&report);
        }
        let loaded = match setup.store.load(id).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("flightdeck: {e}");
                break crate::cli::EXIT_ERROR;
            }
        };
        if let Ok(events) = setup.store.events_after(id, printed).await {
            for e in &events {
                println!("{}", summary::event_line_in(e, &loaded.plan));
            }
            printed = events.last().map_or(printed, |e| e.seq);
        }
        let now = clock::now();
        let watched = still_watched(&loaded.plan, &loaded.state, now);
        if watched && !announced_watch {
            if let WatchState::Watching { left } = watch_state(&loaded.plan, &loaded.state, now) {
                println!(
                    "         | completed; watched after release for {}",
                    crate::plan::format_duration(left)
                );
                announced_watch = true;
            }
        }
        if loaded.state.status.is_terminal() && !supervisor.running(id) && !watched {
            print!(
                "\n{}",
                summary::status_text(&loaded.plan, &loaded.state, &loaded.row, clock::now())
            );
            break crate::cli::EXIT_OK;
        }
        supervisor.observe(id, &loaded.plan, &loaded.state);
        let board = watch.board(&loaded.state);
        let mut acted = supervisor.automate(id, &loaded.plan, &loaded.state, &board, clock::now());
        if !acted && !supervisor.running(id) {
            for (command, who) in operator_move(&loaded.plan, &loaded.state) {
                let actor = if who == "sam" { &sam } else { &alice };
                let submit = Submit {
                    release_id: id,
                    verb: command.verb().to_owned(),
                    command,
                    actor: actor.clone(),
                    expect_seq: None,
                    seen_step: None,
                };
                if supervisor.execute(submit).await.is_ok() {
                    acted = true;
                }
            }
        }
        if !acted {
            tokio::select! {
                report = supervisor.next() => {
                    if let Some(report) = report {
                        print_output(&report);
                    }
                }
                () = tokio::time::sleep(OPERATOR_POLL) => {}
            }
        }
    };
    cancel.cancel();
    supervisor.finish(crate::notify::exit_wait(&setup.plan)).await;
    code
}

/// Whether a finished release is still watched after completion: inside its `[watch]`
/// window, or just past it until automation records the watch closed (bounded).
fn still_watched(plan: &crate::plan::Plan, state: &State, now: crate::release::Timestamp) -> bool {
    match watch_state(plan, state, now) {
        WatchState::Watching { .. } => true,
        WatchState::Ended { at } => {
            state.watch_closed.is_none() && now.millis_since(at) < WATCH_CLOSE_GRACE_MS
        }
        WatchState::None => false,
    }
}

fn print_output(report: &Report) {
    match report {
        Report::Output { line, .. } => println!("         | {line}"),
        Report::TaskFailed { task, error } => eprintln!("flightdeck: {task}: {error}"),
        _ => {}
    }
}
