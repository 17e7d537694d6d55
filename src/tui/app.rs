//! The cockpit's loop: the only place that owns the model and executes effects. One
//! `select!` over keys, worker messages, a 1 s tick and a redraw deadline; draws only when
//! something visible changed, at most once per frame interval, inside synchronized updates.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton,
    MouseEvent, MouseEventKind,
};
use ratatui::crossterm::{queue, terminal};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::CockpitError;
use super::effect::Effect;
use super::keymap::Key;
use super::model::{Model, ReleaseView, TIMELINE_KEPT_EVENTS};
use super::msg::Msg;
use super::update::update;
use super::view;
use crate::probe::Reading;
use crate::release::{Actor, Timestamp};
use crate::store::{self, Store};
use crate::supervisor::{Report, Submit, Supervisor};
use crate::{clock, identity};

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

/// A click or a wheel turn over a pane, as a message (other mouse events mean nothing).
fn mouse_msg(mouse: MouseEvent) -> Option<Msg> {
    let (pane, row, height) = view::hit::pane_at(mouse.column, mouse.row)?;
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) => Some(Msg::Clicked { pane, row, height }),
        MouseEventKind::ScrollUp => Some(Msg::Scrolled { pane, up: true }),
        MouseEventKind::ScrollDown => Some(Msg::Scrolled { pane, up: false }),
        _ => None,
    }
}

struct Shell {
    watch_target: tokio::sync::watch::Sender<Option<(i64, u64)>>,
    store: Store,
    tx: mpsc::Sender<Msg>,
    /// Everything around a commit and over time: actions, webhooks, automation.
    supervisor: Supervisor,
    bell: bool,
    clear: bool,
}

/// Runs the cockpit until the person quits or a signal arrives.
pub async fn run(
    terminal: &mut DefaultTerminal,
    store: Store,
    mut model: Model,
) -> Result<Exit, CockpitError> {
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let cancel = CancellationToken::new();
    let (watch_tx, watch_rx) =
        tokio::sync::watch::channel(model.release.as_ref().map(|r| (r.id, r.state.seq)));
    let mut shell = Shell {
        supervisor: Supervisor::new(store.clone(), model.me.clone()),
        store: store.clone(),
        tx: tx.clone(),
        bell: false,
        clear: false,
        watch_target: watch_tx,
    };
    let size = terminal.size()?;
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
        crate::supervisor::probes::preload(
            &store,
            release.id,
            &release.plan,
            &mut model.probes,
            model.now,
        )
        .await;
        let sink = (!model.read_only).then(|| (store.clone(), release.id));
        // A completed release still watched after completion is polled like a running one.
        if crate::release::supervised(&release.plan, &release.state) {
            spawn_probes(&release.plan, &release.state, sink, &shell, probes_cancel.clone());
        }
        if !model.read_only {
            // What this process left claimed before it restarted is not ours any more, but
            // the first look starts whatever this cockpit claims from now on.
            shell.supervisor.observe(release.id, &release.plan, &release.state);
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
                Some(Ok(TermEvent::Mouse(mouse))) => mouse_msg(mouse),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(CockpitError::Terminal(e)),
                None => Some(Msg::SignalReceived("terminal closed")),
            },
            Some(msg) = rx.recv() => Some(msg),
            Some(report) = shell.supervisor.next() => Some(Msg::Supervised(Box::new(report))),
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
        let urgent = batch.iter().any(|m| {
            matches!(
                m,
                Msg::KeyPressed(_)
                    | Msg::Resized { .. }
                    | Msg::Clicked { .. }
                    | Msg::Scrolled { .. }
            )
        });
        while batch.len() < DRAIN_MAX_MESSAGES {
            match shell.supervisor.try_next() {
                Some(report) => batch.push(Msg::Supervised(Box::new(report))),
                None => break,
            }
        }
        for msg in batch {
            let msg = match msg {
                Msg::Supervised(report) => match report_msg(&model, &shell.supervisor, *report) {
                    Some(msg) => msg,
                    None => continue,
                },
                msg => msg,
            };
            if let Msg::SignalReceived(name) = &msg {
                exit = Exit::Signal(name);
            }
            for effect in update(&mut model, msg) {
                shell.perform(&mut model, effect);
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
                // A finished release's record is closed (once its watch after completion is
                // over): nothing new is written to it, and it has nothing live to poll.
                let live = crate::release::supervised(&release.plan, &release.state);
                let sink = (!model.read_only && live).then(|| (store.clone(), release.id));
                if live {
                    spawn_probes(
                        &release.plan,
                        &release.state,
                        sink,
                        &shell,
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
    let _ = store.leave(&model.me).await;
    if let Some(release) = &model.release {
        let _ = store.release_lease(release.id, &model.me).await;
    }
    // Deliveries still under way get at most the plan's longest webhook timeout.
    let wait = model.release.as_ref().map_or(Duration::ZERO, |r| crate::notify::exit_wait(&r.plan));
    shell.supervisor.finish(wait).await;
    Ok(exit)
}

/// Clears the whole screen and forgets what was on it, so the next frame draws every cell.
/// Not `Terminal::clear`: that first asks the terminal where the cursor is (`ESC[6n`) and,
/// when no answer comes within 2 s (a terminal that never answers, a slow link), fails, which
/// ended the cockpit on a resize or Ctrl-L.
fn clear_screen(terminal: &mut DefaultTerminal) -> std::io::Result<()> {
    queue!(terminal.backend_mut(), terminal::Clear(terminal::ClearType::All))?;
    // Right after a draw the current buffer is blank and the previous one holds the frame on
    // screen; one swap blanks that one too, matching the cleared screen.
    terminal.swap_buffers();
    Ok(())
}

fn draw(terminal: &mut DefaultTerminal, model: &Model, bell: bool) -> std::io::Result<()> {
    let backend = terminal.backend_mut();
    queue!(backend, terminal::BeginSynchronizedUpdate)?;
    terminal.draw(|frame| view::render(frame, model))?;
    let backend = terminal.backend_mut();
    if bell {
        let _ = backend.write_all(b"\x07");
    }
    queue!(backend, terminal::EndSynchronizedUpdate)?;
    backend.flush()
}

impl Shell {
    fn perform(&mut self, model: &mut Model, effect: Effect) {
        match effect {
            Effect::Execute { command, expect_seq, seen_step, verb } => {
                let Some((release, _)) = model.live() else { return };
                self.supervisor.submit(Submit {
                    release_id: release.id,
                    command,
                    actor: model.me.clone(),
                    expect_seq,
                    seen_step,
                    verb,
                });
            }
            Effect::Observe => {
                if let Some((release, _)) = model.live() {
                    self.supervisor.observe(release.id, &release.plan, &release.state);
                }
            }
            Effect::Automate => {
                if let Some((release, board)) = model.live() {
                    self.supervisor.automate(
                        release.id,
                        &release.plan,
                        &release.state,
                        board,
                        model.now,
                    );
                }
            }
            Effect::TakeOver { host, pid } => {
                if let Some((release, _)) = model.live() {
                    self.supervisor.took_over_from(release.id, host, pid);
                }
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
                            let dir = std::env::current_dir()
                                .unwrap_or_else(|_| std::path::PathBuf::from("."));
                            let text = crate::report::markdown::render(&report);
                            match write_new_report(&dir, id, &text) {
                                Ok(path) => Msg::Noted {
                                    text: format!("report written to {}", path.display()),
                                    failed: false,
                                },
                                Err(e) => Msg::Noted {
                                    text: format!(
                                        "cannot write the report in {}: {e}",
                                        dir.display()
                                    ),
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
            // `bell = false` in the user config silences every bell.
            Effect::Bell => self.bell |= model.bell,
            Effect::Quit => model.quit = true,
        }
    }
}

/// What a supervisor report means to the cockpit, if anything: reports about another
/// release than the one shown change nothing on screen.
fn report_msg(model: &Model, supervisor: &Supervisor, report: Report) -> Option<Msg> {
    let shown = model.live().map(|(r, _)| r.id);
    Some(match report {
        Report::Committed { release_id, verb, records, state, .. } => {
            if Some(release_id) != shown {
                return None;
            }
            Msg::Committed { verb, records, state }
        }
        Report::Rejected { verb, message, .. } => Msg::Rejected { verb, message },
        Report::RunStarted { step, action, .. } => Msg::RunStarted { step, action },
        Report::Output { line, .. } => Msg::ActionOutput(line),
        Report::RunEnded { key, error, .. } => {
            if error.is_none() && supervisor.running(key.release_id) {
                return None;
            }
            Msg::ActionsFinished { error }
        }
        Report::TaskFailed { task, error } => {
            Msg::Noted { text: format!("{task} failed: {error}"), failed: true }
        }
    })
}

/// Shows the first of a run of store-watcher failures on screen (and in the log); returns
/// that the watcher is now failing.
async fn report_failure(tx: &mpsc::Sender<Msg>, failing: bool, e: &store::StoreError) -> bool {
    if !failing {
        tracing::error!("store watcher: {e}");
        let text =
            format!("cannot read the store ({e}); the screen may be stale until it answers again");
        let _ = tx.send(Msg::Noted { text, failed: true }).await;
    }
    true
}

/// Starts the probes of the release shown; readings come into the loop as messages, and
/// (unless read-only) are recorded, a failure to record them shown on screen.
fn spawn_probes(
    plan: &crate::plan::Plan,
    state: &crate::release::State,
    sink: Option<(Store, i64)>,
    shell: &Shell,
    cancel: CancellationToken,
) {
    crate::supervisor::probes::spawn(
        plan,
        state,
        sink,
        shell.tx.clone(),
        reading_msg,
        Some(shell.supervisor.reporter()),
        cancel,
    );
}

fn reading_msg(reading: Reading) -> Msg {
    match reading {
        Reading::Health { index, reading } => Msg::HealthChecked { index, reading },
        Reading::Metric { index, at, result } => Msg::MetricSampled { index, at, result },
        Reading::Stable { index, at, value } => Msg::StableSampled { index, at, value },
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
        // Set while reads fail, so a failure is shown once, not every poll.
        let mut failing = false;
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
            let last = match store.last_seq(id).await {
                Ok(last) => last,
                Err(e) => {
                    failing = report_failure(&tx, failing, &e).await;
                    continue;
                }
            };
            let last_seen = seen.map_or(0, |(_, s)| s);
            if seen.is_some() && last <= last_seen {
                look = false;
                failing = false;
                continue;
            }
            let loaded = match store.load(id).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    failing = report_failure(&tx, failing, &e).await;
                    continue;
                }
            };
            failing = false;
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
        // Only where writing leaves no file another user would own beside the store.
        let presence = if read_only {
            if store.location().writable_here() {
                Store::open_at(store.location(), false).await.ok()
            } else {
                None
            }
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

/// SIGHUP (ssh dropped), SIGTERM, SIGQUIT and SIGINT end the cockpit cleanly. In raw mode
/// Ctrl-C is a key, so SIGINT only comes from outside (`kill -INT`, a supervisor); without
/// a handler it would end the process with the terminal left in the alternate screen.
fn spawn_signal_listener(tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut hup), Ok(mut term), Ok(mut quit), Ok(mut int)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let name = tokio::select! {
            () = cancel.cancelled() => return,
            _ = hup.recv() => "SIGHUP",
            _ = term.recv() => "SIGTERM",
            _ = quit.recv() => "SIGQUIT",
            _ = int.recv() => "SIGINT",
        };
        let _ = tx.send(Msg::SignalReceived(name)).await;
    });
}

/// Names tried before giving up: `-2` … `-999` after the plain name.
const REPORT_NAMES_TRIED: u32 = 999;

/// Writes a report to `flightdeck-report-ID.md` in `dir`, or `-2`, `-3`, … when that exists:
/// an earlier report (perhaps another store's release with the same id) is never replaced.
/// `create_new` makes the check and the creation one step, so two cockpits never share a name.
pub(crate) fn write_new_report(
    dir: &std::path::Path,
    id: i64,
    text: &str,
) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write as _;
    for n in 1..=REPORT_NAMES_TRIED {
        let name = if n == 1 {
            format!("flightdeck-report-{id}.md")
        } else {
            format!("flightdeck-report-{id}-{n}.md")
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "flightdeck-report-{id}.md and {REPORT_NAMES_TRIED} numbered copies already exist; move some away"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::write_new_report;

    #[test]
    fn a_report_never_overwrites_an_earlier_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let earlier = dir.path().join("flightdeck-report-1.md");
        std::fs::write(&earlier, "another store's release 1").expect("write");
        let first = write_new_report(dir.path(), 1, "one").expect("written");
        let second = write_new_report(dir.path(), 1, "two").expect("written");
        assert_eq!(first, dir.path().join("flightdeck-report-1-2.md"));
        assert_eq!(second, dir.path().join("flightdeck-report-1-3.md"));
        let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(&earlier), "another store's release 1");
        assert_eq!((read(&first).as_str(), read(&second).as_str()), ("one", "two"));
        let fresh = write_new_report(dir.path(), 7, "seven").expect("written");
        assert_eq!(fresh, dir.path().join("flightdeck-report-7.md"));
    }
}
