//! The cockpit's loop: the only place that owns the model and executes effects. One
//! `select!` over keys, worker messages, a 1 s tick and a redraw deadline; draws only when
//! something visible changed, at most once per frame interval, inside synchronized updates.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use ratatui::crossterm::{queue, terminal};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::effect::Effect;
use super::keymap::Key;
use super::model::{Model, ReleaseView, TIMELINE_KEPT_EVENTS};
use super::msg::Msg;
use super::update::update;
use super::view;
use crate::release::{Actor, Timestamp};
use crate::store::{self, Store};
use crate::{action, automation, clock, identity};

/// Events read into the timeline when a cockpit opens: enough to scroll back through a long
/// release, few enough that the first frame of a 100k-event release stays fast. The rest is in
/// `flightdeck events` and replay.
const TIMELINE_PRELOAD_EVENTS: u64 = 1000;

/// Shortest time between two frames.
const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// How often other processes' writes are looked for.
const STORE_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Messages handled before a frame is drawn, at most.
const DRAIN_MAX_MESSAGES: usize = 64;

/// How the cockpit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The person quit.
    Quit,
    /// A signal ended it.
    Signal(&'static str),
}

/// Loads the release view a cockpit starts on.
pub async fn load_view(store: &Store, id: i64) -> Result<ReleaseView, store::StoreError> {
    let loaded = store.load(id).await?;
    let from = loaded.state.seq.saturating_sub(TIMELINE_PRELOAD_EVENTS);
    let records = store.events_after(id, from).await?;
    let mut view =
        ReleaseView { id, plan: loaded.plan, state: loaded.state, timeline: Default::default() };
    view.extend_timeline(&records);
    Ok(view)
}

/// Maps a terminal key to the cockpit's key, if it is one.
pub fn map_key(event: KeyEvent) -> Option<Key> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    Some(match event.code {
        KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        _ => return None,
    })
}

struct Shell {
    watch_target: tokio::sync::watch::Sender<Option<(i64, u64)>>,
    store: Store,
    me: Actor,
    automation_actor: Actor,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
    client: reqwest::Client,
    runner_active: bool,
    automation_pending: bool,
    /// The driver whose expired lease this cockpit took over: its actions in flight are
    /// interrupted, never re-run.
    taken_from: Option<(String, u32)>,
    bell: bool,
    clear: bool,
    /// Tells the plan's webhooks about what this cockpit recorded.
    notifier: crate::notify::Notifier,
}

/// Runs the cockpit until the person quits or a signal arrives.
pub async fn run(
    terminal: &mut DefaultTerminal,
    store: Store,
    mut model: Model,
) -> Result<Exit, String> {
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let cancel = CancellationToken::new();
    let (watch_tx, watch_rx) =
        tokio::sync::watch::channel(model.release.as_ref().map(|r| (r.id, r.state.seq)));
    let mut shell = Shell {
        notifier: crate::notify::Notifier::spawn(
            store.clone(),
            action::http_client(Duration::from_secs(60)),
        ),
        store: store.clone(),
        automation_actor: Actor::automation(&model.me.account, &model.me.host, model.me.pid),
        me: model.me.clone(),
        tx: tx.clone(),
        cancel: cancel.clone(),
        client: action::http_client(Duration::from_secs(30)),
        runner_active: false,
        automation_pending: false,
        taken_from: None,
        bell: false,
        clear: false,
        watch_target: watch_tx,
    };
    let size = terminal.size().map_err(|e| e.to_string())?;
    model.size = (size.width, size.height);
    model.now = clock::now();
    spawn_store_watcher(store.clone(), watch_rx, tx.clone(), cancel.clone());
    spawn_signal_listener(tx.clone(), cancel.clone());
    spawn_team(
        store.clone(),
        model.me.clone(),
        model.read_only,
        shell.watch_target.subscribe(),
        tx.clone(),
        cancel.clone(),
    );
    let mut probes_cancel = cancel.child_token();
    let mut probes_for = None;
    if let Some(release) = &mut model.release {
        probes_for = Some(release.id);
        preload_samples(&store, release.id, &release.plan, &mut model.probes, model.now).await;
        let sink = (!model.read_only).then(|| (store.clone(), release.id));
        if !release.state.status.is_terminal() {
            spawn_probes(&release.plan, &release.state, sink, tx.clone(), probes_cancel.clone());
        }
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_draw: Option<Instant> = None;
    let mut exit = Exit::Quit;
    loop {
        let redraw_in = match last_draw {
            Some(t) if model.dirty => FRAME_INTERVAL.saturating_sub(t.elapsed()),
            None => Duration::ZERO,
            _ => Duration::from_secs(3600),
        };
        let first = tokio::select! {
            biased;
            event = events.next() => match event {
                Some(Ok(TermEvent::Key(key))) => map_key(key).map(Msg::KeyPressed),
                Some(Ok(TermEvent::Resize(width, height))) => Some(Msg::Resized { width, height }),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(format!("reading the terminal failed: {e}")),
                None => Some(Msg::SignalReceived("terminal closed")),
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = tick.tick() => Some(Msg::Tick { now: clock::now() }),
            () = tokio::time::sleep(redraw_in) => None,
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while batch.len() < DRAIN_MAX_MESSAGES {
            match rx.try_recv() {
                Ok(msg) => batch.push(msg),
                Err(_) => break,
            }
        }
        // A key or a resize is drawn at once: the frame interval coalesces background
        // updates, and a person's key never waits for one.
        let urgent = batch.iter().any(|m| matches!(m, Msg::KeyPressed(_) | Msg::Resized { .. }));
        for msg in batch {
            if let Msg::SignalReceived(name) = &msg {
                exit = Exit::Signal(name);
            }
            let state_may_change = matches!(
                msg,
                Msg::Committed { .. }
                    | Msg::ReleaseChanged { .. }
                    | Msg::Tick { .. }
                    | Msg::Rejected { .. }
                    | Msg::TeamChanged { .. }
            );
            if let Msg::ActionsFinished { .. } = &msg {
                shell.runner_active = false;
            }
            if let Msg::TeamChanged { took_expired: Some(old), .. } = &msg {
                shell.taken_from = Some((old.host.clone(), old.pid));
            }
            if matches!(
                msg,
                Msg::Committed { .. } | Msg::Rejected { .. } | Msg::ReleaseChanged { .. }
            ) {
                shell.automation_pending = false;
            }
            // Webhooks hear about what this cockpit committed, never about other processes'
            // events (those processes notify for their own), so each is delivered once.
            if let (Msg::Committed { records, state, .. }, Some(release)) = (&msg, &model.release) {
                shell.notifier.committed(release.id, &release.plan, state.info.as_ref(), records);
            }
            for effect in update(&mut model, msg) {
                shell.perform(&mut model, effect);
            }
            if state_may_change {
                shell.after_state_change(&mut model);
            }
        }
        if model.quit {
            break;
        }
        // A cockpit opened before its release started (or switched to another) polls the
        // probes of the release it now shows.
        if let Some(release) = &model.release {
            if probes_for != Some(release.id) {
                probes_cancel.cancel();
                probes_cancel = cancel.child_token();
                probes_for = Some(release.id);
                // A finished release's record is closed: nothing new is written to it.
                let sink = (!model.read_only && !release.state.status.is_terminal())
                    .then(|| (store.clone(), release.id));
                // A finished release has nothing live to poll.
                if !release.state.status.is_terminal() {
                    spawn_probes(
                        &release.plan,
                        &release.state,
                        sink,
                        tx.clone(),
                        probes_cancel.clone(),
                    );
                }
            }
        }
        if shell.clear {
            shell.clear = false;
            clear_screen(terminal)?;
            model.dirty = true;
            last_draw = None;
        }
        let due = urgent || last_draw.is_none_or(|t| t.elapsed() >= FRAME_INTERVAL);
        if model.dirty && due {
            draw(terminal, &model, shell.bell)?;
            shell.bell = false;
            model.dirty = false;
            last_draw = Some(Instant::now());
        }
    }
    cancel.cancel();
    // Leave the team cleanly: others see us gone and may drive at once.
    let _ = store.leave(&shell.me).await;
    if let Some(release) = &model.release {
        let _ = store.release_lease(release.id, &shell.me).await;
    }
    // Deliveries still under way get at most the plan's longest webhook timeout.
    let wait = model.release.as_ref().map_or(Duration::ZERO, |r| crate::notify::exit_wait(&r.plan));
    shell.notifier.finish(wait).await;
    Ok(exit)
}

/// Clears the whole screen and forgets what was on it, so the next frame draws every cell.
/// Not `Terminal::clear`: that first asks the terminal where the cursor is (`ESC[6n`) and,
/// when no answer comes within 2 s (a terminal that never answers, a slow link), fails, which
/// ended the cockpit on a resize or Ctrl-L.
fn clear_screen(terminal: &mut DefaultTerminal) -> Result<(), String> {
    queue!(terminal.backend_mut(), terminal::Clear(terminal::ClearType::All))
        .map_err(|e| e.to_string())?;
    // Right after a draw the current buffer is blank and the previous one holds the frame on
    // screen; one swap blanks that one too, matching the cleared screen.
    terminal.swap_buffers();
    Ok(())
}

fn draw(terminal: &mut DefaultTerminal, model: &Model, bell: bool) -> Result<(), String> {
    let backend = terminal.backend_mut();
    queue!(backend, terminal::BeginSynchronizedUpdate).map_err(|e| e.to_string())?;
    terminal.draw(|frame| view::render(frame, model)).map_err(|e| e.to_string())?;
    let backend = terminal.backend_mut();
    if bell {
        let _ = backend.write_all(b"\x07");
    }
    queue!(backend, terminal::EndSynchronizedUpdate).map_err(|e| e.to_string())?;
    backend.flush().map_err(|e| e.to_string())
}

impl Shell {
    fn perform(&mut self, model: &mut Model, effect: Effect) {
        match effect {
            Effect::Execute { command, expect_seq, seen_step, verb } => {
                let Some(release) = &model.release else { return };
                self.spawn_execute(
                    release.id,
                    command,
                    expect_seq,
                    seen_step,
                    verb,
                    self.me.clone(),
                );
            }
            Effect::LoadReplay { id } => {
                let (store, tx) = (self.store.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let msg = match store.events_after(id, 0).await {
                        Ok(records) => {
                            let samples =
                                store.samples_since(id, Timestamp(0)).await.unwrap_or_default();
                            Msg::ReplayLoaded { id, records, samples }
                        }
                        Err(e) => Msg::Noted {
                            text: format!("cannot load the history: {e}"),
                            failed: true,
                        },
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Effect::LoadReleases => {
                let (store, tx) = (self.store.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let msg = match store.releases().await {
                        Ok(rows) => Msg::ReleasesLoaded(rows),
                        Err(e) => {
                            Msg::Noted { text: format!("cannot list releases: {e}"), failed: true }
                        }
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Effect::OpenRelease { id } => {
                let (store, tx, target) =
                    (self.store.clone(), self.tx.clone(), self.watch_target.clone());
                tokio::spawn(async move {
                    let msg = match load_view(&store, id).await {
                        Ok(view) => {
                            let _ = target.send(Some((view.id, view.state.seq)));
                            Msg::ReleaseOpened(Box::new(view))
                        }
                        Err(e) => Msg::Noted {
                            text: format!("cannot open release {id}: {e}"),
                            failed: true,
                        },
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Effect::HandOver { id, to } => {
                let (store, tx) = (self.store.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let msg = match store.offer_lease(id, to.as_deref()).await {
                        Ok(Some(_)) if to.is_none() => Msg::Noted {
                            text: "driving offered: the next cockpit to look takes over; this one \
                                   drives until then"
                                .into(),
                            failed: false,
                        },
                        Ok(Some(lease)) => Msg::Noted {
                            text: format!(
                                "asked {}@{} to hand over: this cockpit drives from its next heartbeat",
                                lease.operator, lease.host
                            ),
                            failed: false,
                        },
                        Ok(None) => Msg::Noted {
                            text: "nobody drives this release now".into(),
                            failed: false,
                        },
                        Err(e) => {
                            Msg::Noted { text: format!("hand-over failed: {e}"), failed: true }
                        }
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Effect::ExportReport { id } => {
                let (store, tx) = (self.store.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let msg = match crate::report::load(&store, id).await {
                        Ok(report) => {
                            let path =
                                std::path::PathBuf::from(format!("flightdeck-report-{id}.md"));
                            match std::fs::write(&path, crate::report::markdown::render(&report)) {
                                Ok(()) => Msg::Noted {
                                    text: format!("report written to {}", path.display()),
                                    failed: false,
                                },
                                Err(e) => Msg::Noted {
                                    text: format!("cannot write {}: {e}", path.display()),
                                    failed: true,
                                },
                            }
                        }
                        Err(e) => Msg::Noted {
                            text: format!("cannot build the report: {e}"),
                            failed: true,
                        },
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Effect::ClearScreen => self.clear = true,
            Effect::Bell => self.bell = true,
            Effect::Quit => model.quit = true,
        }
    }

    fn spawn_execute(
        &self,
        id: i64,
        command: crate::release::Command,
        expect_seq: Option<u64>,
        seen_step: Option<String>,
        verb: String,
        actor: Actor,
    ) {
        let store = self.store.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let msg = match store::execute_on_step(
                &store,
                id,
                &command,
                &actor,
                expect_seq,
                seen_step.as_deref(),
                clock::now,
            )
            .await
            {
                Ok((records, loaded)) => {
                    Msg::Committed { verb, records, state: Box::new(loaded.state) }
                }
                Err(e) => Msg::Rejected { verb, message: e.to_string() },
            };
            let _ = tx.send(msg).await;
        });
    }

    /// Starts the action runner for claims of this process, and automation when due.
    fn after_state_change(&mut self, model: &mut Model) {
        let Some(release) = &model.release else { return };
        if model.read_only {
            return;
        }
        if !self.runner_active
            && !action::claims_of(&release.plan, &release.state, &self.me).is_empty()
        {
            self.runner_active = true;
            model.output.clear();
            model.ui.output_back = 0;
            self.spawn_runner(release.id);
        }
        // Only the driver decides by itself; the others watch (the seq pinning would make a
        // second decision harmless, but one voice keeps the record clean).
        let drives = model.lease.as_ref().is_none_or(|l| l.held_by(&self.me));
        if drives && !self.automation_pending && model.pending.is_none() {
            if let Some((host, pid)) = self.taken_from.clone() {
                let orphan = release
                    .state
                    .runs_in_flight()
                    .into_iter()
                    .find(|(_, run)| run.started.by.host == host && run.started.by.pid == pid);
                if let Some((step, run)) = orphan {
                    self.automation_pending = true;
                    let command = crate::release::Command::MarkInterrupted {
                        step: step.to_owned(),
                        attempt: run.attempt,
                        reason: format!(
                            "the driver {}@{host} (pid {pid}) stopped heartbeating; this cockpit took over",
                            run.started.by.short()
                        ),
                    };
                    self.spawn_execute(
                        release.id,
                        command,
                        None,
                        None,
                        "takeover".into(),
                        self.automation_actor.clone(),
                    );
                    return;
                }
            }
            if let Some(due) = automation::due(
                &release.plan,
                &release.state,
                model.now,
                &self.me,
                identity::process_alive,
                &model.probes,
            ) {
                self.automation_pending = true;
                let verb = format!("automation ({})", due.command.verb());
                self.spawn_execute(
                    release.id,
                    due.command,
                    due.expect_seq,
                    None,
                    verb,
                    self.automation_actor.clone(),
                );
            }
        }
    }

    fn spawn_runner(&self, id: i64) {
        let store = self.store.clone();
        let me = self.me.clone();
        let client = self.client.clone();
        let cancel = self.cancel.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<String>();
            let forward = {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(line) = lines_rx.recv().await {
                        if tx.send(Msg::ActionOutput(line)).await.is_err() {
                            break;
                        }
                    }
                })
            };
            let result = action::drive_claims(&store, id, &me, &client, &lines_tx, &cancel).await;
            drop(lines_tx);
            let _ = forward.await;
            if let Ok(loaded) = store.load(id).await {
                let records = result.as_ref().map(Clone::clone).unwrap_or_default();
                let _ = tx
                    .send(Msg::Committed {
                        verb: "action".into(),
                        records,
                        state: Box::new(loaded.state),
                    })
                    .await;
            }
            let _ =
                tx.send(Msg::ActionsFinished { error: result.err().map(|e| e.to_string()) }).await;
        });
    }
}

/// Polls the store for other processes' writes and sends the fresh state. Each poll is one
/// `PRAGMA data_version` on a connection of its own; the release is looked at only after a
/// commit (or when the cockpit switched releases, or the last look failed).
fn spawn_store_watcher(
    store: Store,
    mut target: tokio::sync::watch::Receiver<Option<(i64, u64)>>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let mut seen = *target.borrow_and_update();
    tokio::spawn(async move {
        let mut changes = store.change_watch().await.ok();
        let mut look = true;
        let mut poll = tokio::time::interval(STORE_POLL_INTERVAL);
        poll.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = poll.tick() => {}
            }
            if target.has_changed().unwrap_or(false) {
                // The cockpit opened another release: follow it from where it was loaded.
                seen = *target.borrow_and_update();
                look = true;
            }
            let committed = match &mut changes {
                Some(watch) => watch.changed().await.unwrap_or(true),
                None => true,
            };
            if !(committed || look) {
                continue;
            }
            // Stays set until a look succeeds, so a failed one is retried at the next poll.
            look = true;
            let id = match seen {
                Some((id, _)) => id,
                None => match store.find(None).await {
                    Ok(row) => row.id,
                    Err(store::StoreError::NotFound(_)) => {
                        look = false;
                        continue;
                    }
                    Err(_) => continue,
                },
            };
            let Ok(last) = store.last_seq(id).await else { continue };
            let last_seen = seen.map_or(0, |(_, s)| s);
            if seen.is_some() && last <= last_seen {
                look = false;
                continue;
            }
            let Ok(loaded) = store.load(id).await else { continue };
            let kept = u64::try_from(TIMELINE_KEPT_EVENTS).unwrap_or(u64::MAX);
            let from = last_seen.max(loaded.state.seq.saturating_sub(kept));
            let records = store.events_after(id, from).await.unwrap_or_default();
            seen = Some((id, loaded.state.seq));
            let msg = Msg::ReleaseChanged {
                id,
                plan: Box::new(loaded.plan),
                state: Box::new(loaded.state),
                records,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
            look = false;
        }
    });
}

/// How many readings wait for the store at most; past that they are dropped (the screen
/// still gets them), so a slow disk never slows the pollers.
const SAMPLE_QUEUE_READINGS: usize = 1024;
/// How long readings gather before they are written together.
const SAMPLE_BATCH_WINDOW: Duration = Duration::from_secs(1);
/// How far back stored readings are loaded when a cockpit opens.
const PRELOAD_SAMPLES_MS: u64 = 30 * 60 * 1000;

/// Starts the health and metric pollers and forwards their readings into the loop; with a
/// `sink`, also records them in the store (in batches, on their own task) so other cockpits,
/// the CLI and the report see the same numbers. Every cockpit that can write polls and
/// records: a second cockpit polls too (rows from both are kept, bounded per series).
pub fn spawn_probes(
    plan: &crate::plan::Plan,
    state: &crate::release::State,
    sink: Option<(Store, i64)>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let (readings_tx, mut readings_rx) = mpsc::channel(256);
    let versions = crate::probe::Versions {
        new: state.info.as_ref().map(|i| i.version.clone()),
        old: state.info.as_ref().and_then(|i| i.previous_version.clone()),
    };
    crate::probe::spawn_metric_pollers(plan, &versions, readings_tx.clone(), cancel.clone());
    crate::probe::spawn_health_pollers(plan, readings_tx, cancel.clone());
    let series: Vec<(String, store::SampleKind)> =
        plan.metrics.iter().map(|m| (m.id.clone(), store::SampleKind::Metric)).collect();
    let health: Vec<String> = plan.health.iter().map(|h| h.id.clone()).collect();
    let samples_tx = sink.map(|(store, id)| spawn_sample_writer(store, id, cancel));
    tokio::spawn(async move {
        while let Some(reading) = readings_rx.recv().await {
            let (msg, row) = match reading {
                crate::probe::Reading::Health { index, reading } => {
                    let row = health.get(index).map(|id| store::SampleRow {
                        series: id.clone(),
                        kind: store::SampleKind::Health,
                        at: reading.at,
                        value: reading.error.is_none().then_some(reading.latency_ms as f64),
                        error: reading.error.clone(),
                    });
                    (Msg::HealthChecked { index, reading }, row)
                }
                crate::probe::Reading::Metric { index, at, result } => {
                    let row = series.get(index).map(|(id, kind)| store::SampleRow {
                        series: id.clone(),
                        kind: *kind,
                        at,
                        value: result.as_ref().ok().copied().flatten(),
                        error: result.as_ref().err().cloned(),
                    });
                    (Msg::MetricSampled { index, at, result }, row)
                }
                crate::probe::Reading::Stable { index, at, value } => {
                    let row = series.get(index).map(|(id, kind)| store::SampleRow {
                        series: crate::analysis::stable_series_id(id),
                        kind: *kind,
                        at,
                        value,
                        error: None,
                    });
                    (Msg::StableSampled { index, at, value }, row)
                }
            };
            if let (Some(samples_tx), Some(row)) = (&samples_tx, row) {
                let _ = samples_tx.try_send(row);
            }
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    });
}

/// Writes readings to the store in batches: whatever arrived within [`SAMPLE_BATCH_WINDOW`]
/// of the first one, in one transaction (one fsync a second, however many probes).
fn spawn_sample_writer(
    store: Store,
    release_id: i64,
    cancel: CancellationToken,
) -> mpsc::Sender<store::SampleRow> {
    let (tx, mut rx) = mpsc::channel::<store::SampleRow>(SAMPLE_QUEUE_READINGS);
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                () = cancel.cancelled() => return,
                r = rx.recv() => r,
            };
            let Some(first) = first else { return };
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(SAMPLE_BATCH_WINDOW) => {}
            }
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            // A failed write loses readings, never the release: the screen has them anyway.
            let _ = store.record_samples(release_id, &batch).await;
            if cancel.is_cancelled() {
                return;
            }
        }
    });
    tx
}

/// Folds the readings another cockpit (or an earlier run of this one) recorded into the
/// board, so a freshly opened cockpit shows the same numbers and can judge a bake at once.
async fn preload_samples(
    store: &Store,
    release_id: i64,
    plan: &crate::plan::Plan,
    board: &mut crate::probe::ProbeBoard,
    now: crate::release::Timestamp,
) {
    let since = crate::release::Timestamp(
        now.0.saturating_sub(i64::try_from(PRELOAD_SAMPLES_MS).unwrap_or(i64::MAX)),
    );
    let Ok(rows) = store.samples_since(release_id, since).await else { return };
    for row in rows.into_iter().filter(|r| r.kind == store::SampleKind::Metric) {
        let stable = plan
            .metrics
            .iter()
            .position(|m| crate::analysis::stable_series_id(&m.id) == row.series);
        if let Some(index) = stable {
            board
                .apply(plan, crate::probe::Reading::Stable { index, at: row.at, value: row.value });
            continue;
        }
        let Some(index) = plan.metrics.iter().position(|m| m.id == row.series) else { continue };
        let result = match (row.value, row.error) {
            (_, Some(e)) => Err(e),
            (v, None) => Ok(v),
        };
        board.apply(plan, crate::probe::Reading::Metric { index, at: row.at, result });
    }
}

/// How often a cockpit heartbeats its presence and renews (or claims) the driver lease.
const TEAM_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// Heartbeats this cockpit's presence, claims or renews the driver lease (unless read-only),
/// and reports who else is watching and who drives.
fn spawn_team(
    store: Store,
    me: Actor,
    read_only: bool,
    mut target: tokio::sync::watch::Receiver<Option<(i64, u64)>>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let tty = identity::tty_name();
    tokio::spawn(async move {
        // Being listed is not acting: a read-only cockpit writes its presence through a
        // writable pool of its own when the file or the role allows it. Events still go only
        // through `store`, which refuses them.
        let presence = if read_only {
            Store::open_at(store.location(), false).await.ok()
        } else {
            Some(store.clone())
        };
        let mut beat = tokio::time::interval(TEAM_HEARTBEAT_INTERVAL);
        beat.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = beat.tick() => {}
            }
            let release = target.borrow_and_update().map(|(id, _)| id);
            let now = clock::now();
            if let Some(presence) = &presence {
                // A watcher whose role or file may not be written is simply not listed.
                let _ = presence.heartbeat(&me, release, &tty, read_only, now).await;
            }
            let Some(id) = release else { continue };
            let others = store
                .present(id, now)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !(p.host == me.host && p.pid == me.pid))
                .collect();
            let (lease, took_expired) = if read_only {
                (store.lease(id).await.unwrap_or(None), None)
            } else {
                match store.claim_lease_noting(id, &me, now).await {
                    Ok(claimed) => (Some(claimed.lease), claimed.took_expired),
                    Err(_) => (store.lease(id).await.unwrap_or(None), None),
                }
            };
            if tx.send(Msg::TeamChanged { others, lease, took_expired }).await.is_err() {
                return;
            }
        }
    });
}

/// SIGHUP (ssh dropped), SIGTERM and SIGQUIT end the cockpit cleanly.
fn spawn_signal_listener(tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut hup), Ok(mut term), Ok(mut quit)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
        ) else {
            return;
        };
        let name = tokio::select! {
            () = cancel.cancelled() => return,
            _ = hup.recv() => "SIGHUP",
            _ = term.recv() => "SIGTERM",
            _ = quit.recv() => "SIGQUIT",
        };
        let _ = tx.send(Msg::SignalReceived(name)).await;
    });
}
