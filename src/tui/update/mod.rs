//! `update`: the pure heart of the cockpit. A message changes the model and may ask for
//! effects; nothing here does IO or reads the clock. Acting keys become engine commands,
//! exactly as the CLI verbs do.

mod line;
mod rows;

use line::{on_line_key, start_filter};
use rows::{acknowledge, click_row, on_row_key, open_row};

use super::effect::Effect;
use super::keymap::{Action, Key};
use super::model::{
    DRY_RUN_REASON, Field, LineEdit, LineKind, Model, Overlay, PROMPT_EXPIRY_MS, Pane, Prompt,
    Purpose, ReleaseList, ReleaseView, Replay, RowOverlay, RowRef, StatusLine, Tone,
};
use super::msg::Msg;
use crate::plan::{StepKind, Strategy};
use crate::release::{Command, Resolution, Status, StepStatus, format_hour_minute};

/// Applies one message; returns the effects it asks for.
pub fn update(model: &mut Model, msg: Msg) -> Vec<Effect> {
    let state_may_change = matches!(
        msg,
        Msg::Committed { .. }
            | Msg::ReleaseChanged { .. }
            | Msg::ReleaseOpened(_)
            | Msg::Tick { .. }
            | Msg::Rejected { .. }
            | Msg::TeamChanged { .. }
    );
    let took_over = match &msg {
        Msg::TeamChanged { took_expired: Some(old), .. } => Some((old.host.clone(), old.pid)),
        _ => None,
    };
    let mut effects = update_view(model, msg);
    if let Some((host, pid)) = took_over {
        effects.push(Effect::TakeOver { host, pid });
    }
    if state_may_change {
        effects.extend(supervision(model));
    }
    effects
}

/// What the supervisor is asked to do after the live release may have changed: observe it
/// (every cockpit that may act runs what it claimed), and automate only where this cockpit
/// drives and is not waiting for its own command.
fn supervision(model: &Model) -> Vec<Effect> {
    if model.read_only {
        return Vec::new();
    }
    let Some((live, _)) = model.live() else { return Vec::new() };
    let mut effects = vec![Effect::Observe];
    let drives = model.lease.as_ref().is_none_or(|l| l.held_by(&model.me));
    // A completed release still watched after completion is automated like a running one.
    let supervised = crate::release::supervised(&live.plan, &live.state);
    if drives && model.pending.is_none() && supervised {
        effects.push(Effect::Automate);
    }
    effects
}

fn update_view(model: &mut Model, msg: Msg) -> Vec<Effect> {
    // During replay the screen shows the past; news from the store updates the live view
    // kept aside, so leaving replay shows the present.
    if model.replay.is_some()
        && matches!(
            msg,
            Msg::ReleaseChanged { .. }
                | Msg::Committed { .. }
                | Msg::HealthChecked { .. }
                | Msg::MetricSampled { .. }
                | Msg::StableSampled { .. }
        )
    {
        return with_live_view(model, |model| apply_msg(model, msg));
    }
    apply_msg(model, msg)
}

fn with_live_view(model: &mut Model, f: impl FnOnce(&mut Model) -> Vec<Effect>) -> Vec<Effect> {
    let Some(mut replay) = model.replay.take() else { return f(model) };
    let shown = model.release.replace(replay.live.clone());
    let shown_probes = std::mem::replace(&mut model.probes, replay.live_probes.clone());
    let effects = f(model);
    if let Some(live) = std::mem::replace(&mut model.release, shown) {
        replay.live = live;
    }
    replay.live_probes = std::mem::replace(&mut model.probes, shown_probes);
    model.replay = Some(replay);
    effects
}

fn apply_msg(model: &mut Model, msg: Msg) -> Vec<Effect> {
    let before = model.release.as_ref().map(|r| (r.id, r.state.status));
    let mut effects = apply_msg_inner(model, msg);
    effects.extend(alarm_on_automatic_hold(model, before));
    effects
}

/// flightdeck paused or rolled back by itself: ring the bell and say why, loudly.
fn alarm_on_automatic_hold(model: &mut Model, before: Option<(i64, Status)>) -> Vec<Effect> {
    let Some(r) = &model.release else { return Vec::new() };
    let Some((id, was)) = before else { return Vec::new() };
    if id != r.id || was == r.state.status {
        return Vec::new();
    }
    let text = match (r.state.status, &r.state.pause, &r.state.rollback) {
        (Status::Paused, Some(p), _) if p.mark.by.automatic => {
            format!("PAUSED by flightdeck: {} — p resumes, R rolls back", p.reason)
        }
        (Status::RollingBack, _, Some(rb)) if rb.automatic => {
            format!("ROLLING BACK automatically: {}", rb.reason)
        }
        _ => return Vec::new(),
    };
    model.status = Some(StatusLine { text, tone: Tone::Error });
    model.dirty = true;
    vec![Effect::Bell]
}

fn apply_msg_inner(model: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::KeyPressed(key) => {
            model.dirty = true;
            on_key(model, key)
        }
        Msg::Clicked { pane, row, height } => {
            model.dirty = true;
            if model.overlay.is_none() && model.line.is_none() {
                model.focus = pane;
                if let Some(row) = row {
                    click_row(model, pane, row, height);
                }
            }
            Vec::new()
        }
        Msg::Scrolled { pane, up } => {
            model.dirty = true;
            if model.overlay.is_none() && model.line.is_none() {
                model.focus = pane;
                for _ in 0..3 {
                    navigate(model, if up { Action::Up } else { Action::Down });
                }
            }
            Vec::new()
        }
        Msg::Resized { width, height } => {
            model.size = (width, height);
            model.dirty = true;
            vec![Effect::ClearScreen]
        }
        Msg::Tick { now } => on_tick(model, now),
        Msg::ReleaseChanged { id, plan, state, records } => {
            let same = model.release.as_ref().is_some_and(|r| r.id == id);
            let mut effects = Vec::new();
            if same && action_failed_in(model, &records) {
                effects.push(Effect::Bell);
            }
            if same {
                if let Some(r) = &mut model.release {
                    if state.seq >= r.state.seq {
                        r.state = *state;
                        r.extend_timeline(&records);
                        model.probes.sync(&r.state);
                        model.dirty = true;
                    }
                }
            } else {
                let mut view =
                    ReleaseView { id, plan: *plan, state: *state, timeline: Default::default() };
                view.extend_timeline(&records);
                model.probes = crate::probe::ProbeBoard::for_plan(&view.plan);
                model.probes.sync(&view.state);
                model.release = Some(view);
                model.dirty = true;
            }
            effects
        }
        Msg::Committed { verb, records, state } => {
            let failed = action_failed_in(model, &records);
            model.pending = None;
            if let Some(r) = &mut model.release {
                if state.seq >= r.state.seq {
                    r.state = *state;
                    model.probes.sync(&r.state);
                }
                r.extend_timeline(&records);
            }
            let last = match &model.release {
                Some(r) => records.last().map(|e| e.event.sentence_in(&r.plan)),
                None => records.last().map(|e| e.event.sentence()),
            }
            .unwrap_or_default();
            model.status = Some(StatusLine { text: committed_text(&verb, &last), tone: Tone::Ok });
            model.dirty = true;
            if failed { vec![Effect::Bell] } else { Vec::new() }
        }
        Msg::ReplayLoaded { id, records, samples } => {
            let Some(live) = model.release.clone().filter(|r| r.id == id) else {
                return Vec::new();
            };
            if records.is_empty() {
                say(model, "nothing to replay yet", Tone::Info);
                return Vec::new();
            }
            let position = records.len();
            model.replay = Some(Box::new(Replay {
                records,
                samples,
                position,
                live,
                live_probes: model.probes.clone(),
            }));
            show_replay_position(model);
            Vec::new()
        }
        Msg::ReleasesLoaded(rows) => {
            let current = model.release.as_ref().map(|r| r.id);
            let selected = rows.iter().position(|r| Some(r.id) == current).unwrap_or(0);
            model.overlay = Some(Overlay::Releases(ReleaseList { rows, selected }));
            model.dirty = true;
            Vec::new()
        }
        Msg::ReleaseOpened(view) => {
            model.replay = None;
            model.viewing_past = view.state.status.is_terminal();
            model.probes = crate::probe::ProbeBoard::for_plan(&view.plan);
            model.probes.sync(&view.state);
            model.ui = super::model::Ui::default();
            let what = view
                .state
                .info
                .as_ref()
                .map_or_else(String::new, |i| format!("{} {}", i.service, i.version));
            let how = if model.viewing_past { " (finished: read-only)" } else { "" };
            say(model, format!("opened release {} {what}{how}", view.id), Tone::Info);
            model.release = Some(*view);
            model.dirty = true;
            Vec::new()
        }
        Msg::TeamChanged { others, lease, .. } => {
            // A renewed lease or a fresh heartbeat changes nothing on screen: only who.
            let shown = |others: &[crate::store::Presence], lease: &Option<crate::store::Lease>| {
                let names: Vec<String> = others.iter().map(crate::store::Presence::label).collect();
                let holder = lease
                    .as_ref()
                    .map(|l| (l.operator.clone(), l.host.clone(), l.pid, l.offered_to.clone()));
                (names, holder)
            };
            if shown(&model.others, &model.lease) != shown(&others, &lease) {
                model.dirty = true;
            }
            model.others = others;
            model.lease = lease;
            Vec::new()
        }
        Msg::Noted { text, failed } => {
            say(model, text, if failed { Tone::Error } else { Tone::Ok });
            model.dirty = true;
            Vec::new()
        }
        Msg::Rejected { verb, message } => {
            model.pending = None;
            model.status =
                Some(StatusLine { text: format!("{verb} refused: {message}"), tone: Tone::Error });
            model.dirty = true;
            vec![Effect::Bell]
        }
        Msg::ActionOutput(line) => {
            model.running_here = true;
            model.push_output(line);
            if model.ui.output_back > 0 {
                model.ui.output_back += 1;
            }
            model.dirty = true;
            Vec::new()
        }
        Msg::RunStarted { step, action } => {
            model.output.clear();
            model.ui.output_back = 0;
            model.running_here = true;
            say(model, format!("running {step} ({action})"), Tone::Info);
            model.dirty = true;
            Vec::new()
        }
        Msg::ActionsFinished { error } => {
            model.running_here = false;
            model.dirty = true;
            if let Some(e) = error {
                model.status =
                    Some(StatusLine { text: format!("action runner: {e}"), tone: Tone::Error });
                return vec![Effect::Bell];
            }
            Vec::new()
        }
        Msg::HealthChecked { index, reading } => {
            let plan = model.release.as_ref().map(|r| &r.plan);
            if let (Some(plan), Some(row)) = (plan, model.probes.health.get_mut(index)) {
                if let Some(spec) = plan.health.get(index) {
                    let before = health_words(row);
                    row.record(reading, spec.down_after, spec.up_after);
                    let went_down = before.0 != crate::probe::HealthState::Down
                        && row.state == crate::probe::HealthState::Down;
                    let words_changed = before != health_words(row);
                    probe_changed(model, words_changed);
                    // A probe going DOWN rings the bell: someone may be looking elsewhere.
                    if went_down {
                        return vec![Effect::Bell];
                    }
                }
            }
            Vec::new()
        }
        Msg::MetricSampled { index, at, result } => {
            if let Some(row) = model.probes.metrics.get_mut(index) {
                let before = metric_words(row);
                row.record(at, result);
                let words_changed = before != metric_words(row);
                probe_changed(model, words_changed);
            }
            model.probes.refresh_live_baselines(at);
            Vec::new()
        }
        Msg::StableSampled { index, at, value } => {
            if let Some(row) = model.probes.metrics.get_mut(index) {
                row.record_stable(at, value);
            }
            model.probes.refresh_live_baselines(at);
            Vec::new()
        }
        // The loop turns reports into the messages above; one that reaches here is news of
        // nothing on screen.
        Msg::Supervised(_) => Vec::new(),
        Msg::SignalReceived(_) => {
            model.quit = true;
            vec![Effect::Quit]
        }
    }
}

fn on_tick(model: &mut Model, now: crate::release::Timestamp) -> Vec<Effect> {
    model.now = now;
    if let Some(Overlay::Prompt(p)) = &model.overlay {
        if now.millis_since(p.touched_at) > PROMPT_EXPIRY_MS {
            model.overlay = None;
            model.status = Some(StatusLine {
                text: "confirmation expired; nothing was done".into(),
                tone: Tone::Info,
            });
            model.dirty = true;
        }
    }
    // Clocks on screen (elapsed, bake timers) change every second only while a release runs.
    if model.release.as_ref().is_some_and(|r| !r.state.status.is_terminal()) {
        model.dirty = true;
    }
    // Readings that only moved numbers since the last frame are drawn with this one.
    if std::mem::take(&mut model.probes_changed) {
        model.dirty = true;
    }
    Vec::new()
}

/// Whether `records` hold an action failure the screen has not shown yet.
fn action_failed_in(model: &Model, records: &[crate::release::EventRecord]) -> bool {
    let last = model.release.as_ref().and_then(|r| r.timeline.back()).map_or(0, |e| e.seq);
    records
        .iter()
        .any(|r| r.seq > last && matches!(r.event, crate::release::Event::ActionFailed { .. }))
}

/// What a health row says in words: its state, error, status, version and failing checks.
/// Latency and age are numbers.
type HealthWords = (
    crate::probe::HealthState,
    Option<String>,
    Option<(Option<u16>, Option<String>, Option<String>, Vec<(String, String)>)>,
);

fn health_words(row: &crate::probe::HealthRow) -> HealthWords {
    let last = row
        .last
        .as_ref()
        .map(|r| (r.status_code, r.error.clone(), r.version.clone(), r.checks.clone()));
    (row.state, row.version_mismatch.clone(), last)
}

/// What a metric row says in words: its verdict, read error, and whether it has values or
/// reads no data. Values, sparklines and counts are numbers.
fn metric_words(
    row: &crate::probe::MetricRow,
) -> (crate::probe::Verdict, Option<String>, bool, bool) {
    (row.verdict, row.error.clone(), row.samples.is_empty(), row.no_data_since.is_some())
}

/// A reading that changes what a row says in words (UP → DOWN, ok → FAIL, STALE) is drawn
/// at once; one that only moves numbers (latency, value, sparkline, age) waits for the next
/// tick, so a second's readings share one frame with the clock instead of one frame each.
fn probe_changed(model: &mut Model, words_changed: bool) {
    if words_changed {
        model.dirty = true;
    } else {
        model.probes_changed = true;
    }
}

/// The status line after a commit: the verb, then what was recorded, unless the sentence
/// already starts with the verb (`note: …`, `paused: …`, `approved …`), which would say it twice.
fn committed_text(verb: &str, sentence: &str) -> String {
    let first = sentence.split([' ', ':']).next().unwrap_or_default().to_lowercase();
    if !verb.is_empty() && first.starts_with(&verb.to_lowercase()) {
        sentence.to_owned()
    } else {
        format!("{verb}: {sentence}")
    }
}

/// The id of the release's current step, for prompt titles.
fn current_step_id(model: &Model) -> String {
    model.release.as_ref().and_then(|r| r.state.current()).map(|s| s.id.clone()).unwrap_or_default()
}

fn say(model: &mut Model, text: impl Into<String>, tone: Tone) {
    model.status = Some(StatusLine { text: text.into(), tone });
}

fn on_key(model: &mut Model, key: Key) -> Vec<Effect> {
    if model.line.is_some() && model.overlay.is_none() {
        return on_line_key(model, key);
    }
    match &model.overlay {
        Some(Overlay::Prompt(_)) => return on_prompt_key(model, key),
        Some(Overlay::Releases(_)) => return on_releases_key(model, key),
        Some(Overlay::Row(_)) => return on_row_key(model, key),
        Some(Overlay::Help) => {
            // Where the help does not fit (80×24) it scrolls; any other key closes it. The
            // view clamps the offset to the lines there are.
            // About a line per binding (a few wrap), less the rows the overlay shows.
            let visible = usize::from(model.size.1).saturating_sub(6);
            let lines = (model.keymap.bindings.len() + 4).saturating_sub(visible);
            match key {
                Key::Char('j') | Key::Down => {
                    model.ui.help_scroll = (model.ui.help_scroll + 1).min(lines)
                }
                Key::Char('k') | Key::Up => {
                    model.ui.help_scroll = model.ui.help_scroll.saturating_sub(1)
                }
                Key::PageDown => model.ui.help_scroll = (model.ui.help_scroll + 10).min(lines),
                Key::PageUp => model.ui.help_scroll = model.ui.help_scroll.saturating_sub(10),
                _ => {
                    model.overlay = None;
                    model.ui.help_scroll = 0;
                }
            }
            return Vec::new();
        }
        Some(Overlay::TrafficHistory) => {
            model.overlay = None;
            return Vec::new();
        }
        None => {}
    }
    if key == Key::Ctrl('c') {
        model.quit = true;
        return vec![Effect::Quit];
    }
    let Some(action) =
        model.keymap.lookup(key, model.focus == Pane::Detail, model.focus == Pane::Timeline)
    else {
        // Esc clears a kept filter of the focused pane, as in the tools people know.
        if key == Key::Esc && !model.ui.filter_for(model.focus).is_empty() {
            return line::clear_filter(model, model.focus);
        }
        say(model, format!("{key} does nothing here; press ? for every key"), Tone::Info);
        return Vec::new();
    };
    perform(model, action, &key.to_string())
}

/// Does what `action` means, from a key or a typed command (`key` names either in
/// messages), unless this screen may not act.
fn perform(model: &mut Model, action: Action, key: &str) -> Vec<Effect> {
    if !may_act(model, action, key) {
        return Vec::new();
    }
    on_action(model, action)
}

/// Whether this screen may do `action`: an acting one is refused (and the status line says
/// why) during replay, on a finished release, read-only, or with no release.
fn may_act(model: &mut Model, action: Action, key: &str) -> bool {
    if !action.acts() {
        return true;
    }
    let why = if model.replay.is_some() {
        "replay shows the past: press v to return to live before acting".to_owned()
    } else if model.viewing_past {
        "this release is finished: its record is read-only".to_owned()
    } else if model.read_only {
        format!("read-only cockpit: `{key}` ({}) is disabled", action.name())
    } else if model.release.is_none() {
        "no release yet: start one with `flightdeck start PLAN --version V`".to_owned()
    } else {
        return true;
    };
    say(model, why, Tone::Error);
    false
}

fn execute(model: &mut Model, command: Command, pinned: bool) -> Vec<Effect> {
    let verb = command.verb().to_owned();
    let expect_seq = if pinned { model.release.as_ref().map(|r| r.state.seq) } else { None };
    let seen_step = seen_step(model);
    model.pending = Some(verb.clone());
    say(model, format!("{verb}…"), Tone::Info);
    vec![Effect::Execute { command, expect_seq, seen_step, verb }]
}

/// The step current on screen: commands that act on it must not land on another.
fn seen_step(model: &Model) -> Option<String> {
    model.release.as_ref().and_then(|r| r.state.current()).map(|s| s.id.clone())
}

/// Opens a prompt for `purpose`, unless the engine would refuse its command anyway: then the
/// refusal shows at once, so nobody types a reason (or the service name) only to be refused.
fn open_prompt(
    model: &mut Model,
    purpose: Purpose,
    title: String,
    fields: Vec<Field>,
) -> Vec<Effect> {
    // The step on screen when the prompt opened: what its command acts on.
    let step = seen_step(model);
    open_prompt_on(model, purpose, title, fields, step)
}

/// Opens a prompt whose command acts on `step` (a takeover names the selected step).
fn open_prompt_on(
    model: &mut Model,
    purpose: Purpose,
    title: String,
    fields: Vec<Field>,
    step: Option<String>,
) -> Vec<Effect> {
    let typed_name = fields.iter().any(|f| f.must_equal.is_some());
    // Gate inputs are checked when given (each against its pattern), not before they are typed.
    let dry_run = (purpose != Purpose::GateInputs)
        .then(|| command_for(purpose, DRY_RUN_REASON.into(), typed_name, step.clone()));
    if let Some(refused) = dry_run.and_then(|command| refusal(model, &command)) {
        return refused;
    }
    let seen_seq = model.release.as_ref().map_or(0, |r| r.state.seq);
    model.overlay = Some(Overlay::Prompt(Prompt {
        purpose,
        title,
        fields,
        step,
        active: 0,
        seen_seq,
        touched_at: model.now,
        error: None,
        input_ids: Vec::new(),
    }));
    Vec::new()
}

/// If the engine would refuse `command` on the live release now, says so in the status line
/// (with the bell, like a refusal from the store) and returns the effects; `None` if it
/// would be accepted.
fn refusal(model: &mut Model, command: &Command) -> Option<Vec<Effect>> {
    let rejection = model.refusal_of(command)?;
    model.status = Some(StatusLine {
        text: format!("{} refused: {}", command.verb(), rejection.message),
        tone: Tone::Error,
    });
    model.dirty = true;
    Some(vec![Effect::Bell])
}

fn reason_field(label: &str) -> Field {
    Field { label: label.into(), value: String::new(), must_equal: None }
}

fn confirm_field(service: &str) -> Field {
    Field {
        label: format!("type `{service}` to confirm"),
        value: String::new(),
        must_equal: Some(service.into()),
    }
}

fn on_action(model: &mut Model, action: Action) -> Vec<Effect> {
    let service = model
        .release
        .as_ref()
        .and_then(|r| r.state.info.as_ref())
        .map(|i| i.service.clone())
        .unwrap_or_default();
    let version = model
        .release
        .as_ref()
        .and_then(|r| r.state.info.as_ref())
        .map(|i| i.version.clone())
        .unwrap_or_default();
    let strategy = model.release.as_ref().map_or(Strategy::Traffic, |r| r.plan.strategy());
    match action {
        Action::Quit => {
            model.quit = true;
            vec![Effect::Quit]
        }
        Action::Help => {
            model.overlay = Some(Overlay::Help);
            Vec::new()
        }
        Action::TrafficHistory => {
            model.overlay = Some(Overlay::TrafficHistory);
            Vec::new()
        }
        Action::Redraw => vec![Effect::ClearScreen],
        Action::Releases => vec![Effect::LoadReleases],
        Action::Replay => match (model.replay.is_some(), model.release.as_ref().map(|r| r.id)) {
            (true, _) => {
                leave_replay(model);
                Vec::new()
            }
            (false, Some(id)) => {
                say(model, "loading the history…", Tone::Info);
                vec![Effect::LoadReplay { id }]
            }
            (false, None) => Vec::new(),
        },
        Action::ReplayBack | Action::ReplayForward => {
            let Some(replay) = model.replay.as_mut() else {
                say(
                    model,
                    "press v to replay the release, then ←/→ to move through it",
                    Tone::Info,
                );
                return Vec::new();
            };
            replay.position = if action == Action::ReplayBack {
                replay.position.saturating_sub(1).max(1)
            } else {
                (replay.position + 1).min(replay.records.len())
            };
            show_replay_position(model);
            Vec::new()
        }
        Action::HandOver => hand_over(model),
        Action::ExportReport => match &model.release {
            Some(r) => vec![Effect::ExportReport { id: r.id }],
            None => Vec::new(),
        },
        Action::FocusNext | Action::FocusPrev => {
            model.focus = model.focus.cycle(action == Action::FocusNext);
            Vec::new()
        }
        Action::Open => {
            match model.focus {
                Pane::Steps => model.focus = Pane::Detail,
                Pane::Detail => model.focus = Pane::Steps,
                _ => open_row(model),
            }
            model.ui.item = 0;
            Vec::new()
        }
        Action::Acknowledge => {
            acknowledge(model);
            Vec::new()
        }
        Action::CommandLine => {
            model.line = Some(LineEdit {
                kind: LineKind::Command,
                text: String::new(),
                choices: Vec::new(),
            });
            Vec::new()
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            navigate(model, action);
            Vec::new()
        }
        Action::Filter => {
            start_filter(model);
            Vec::new()
        }
        Action::ToggleTick => toggle_tick(model),
        Action::Approve => approve(model),
        Action::Revoke => execute(model, Command::Revoke, false),
        Action::Decline => open_prompt(
            model,
            Purpose::Decline,
            "No-go at the current gate".into(),
            vec![reason_field("why (recorded)")],
        ),
        Action::Shift if strategy != Strategy::Traffic => {
            // The key stays bound (a remap would surprise) but there is nothing to shift.
            say(
                model,
                format!(
                    "no traffic to shift in {}; n starts the deploy step",
                    strategy_noun(strategy)
                ),
                Tone::Info,
            );
            Vec::new()
        }
        Action::Next | Action::Shift => {
            let full = model.release.as_ref().is_some_and(|r| {
                r.plan.flat_steps().get(r.state.cursor).is_some_and(|s| changes_all(&s.step.kind))
                    && r.state.status == Status::Running
            });
            if full {
                let purpose =
                    if action == Action::Shift { Purpose::FullShift } else { Purpose::FullNext };
                return open_prompt(
                    model,
                    purpose,
                    all_of_production(strategy, &service, &version, false),
                    vec![confirm_field(&service)],
                );
            }
            // A running bake passes on the evidence the store judges (its stored readings).
            let baking = model.release.as_ref().is_some_and(|r| {
                r.plan.flat_steps().get(r.state.cursor).is_some_and(|s| {
                    matches!(s.step.kind, StepKind::Bake { .. })
                        && r.state
                            .current()
                            .is_some_and(|c| c.status == crate::release::StepStatus::Running)
                })
            });
            let command = if action == Action::Shift {
                Command::Shift { confirmed: false }
            } else if baking {
                Command::PassBake { evidence: None, override_reason: None, confirmed: false }
            } else {
                Command::Next { confirmed: false }
            };
            execute(model, command, true)
        }
        Action::PauseResume => {
            if model.release.as_ref().is_some_and(|r| r.state.status == Status::Paused) {
                execute(model, Command::Resume, true)
            } else {
                open_prompt(
                    model,
                    Purpose::Pause,
                    "Pause the release".into(),
                    vec![reason_field("why (recorded)")],
                )
            }
        }
        Action::Rollback => {
            let what = match strategy {
                Strategy::Traffic => "traffic returns to the stable version",
                Strategy::Rolling | Strategy::Swap => "the plan's rollback procedure runs",
            };
            open_prompt(
                model,
                Purpose::Rollback,
                format!("ROLL BACK {service} {version}: {what}"),
                vec![reason_field("why (recorded)"), confirm_field(&service)],
            )
        }
        Action::Skip => {
            let step = current_step_id(model);
            open_prompt(
                model,
                Purpose::Skip,
                format!("SKIP step `{step}`"),
                vec![reason_field("why (recorded)"), confirm_field(&service)],
            )
        }
        Action::OverrideBake => {
            let step = current_step_id(model);
            open_prompt(
                model,
                Purpose::OverrideBake,
                format!("PASS bake `{step}` WITHOUT its evidence: a manual override, flagged"),
                vec![reason_field("why (recorded, in the report)"), confirm_field(&service)],
            )
        }
        Action::Retry => {
            if stuck_full_shift(model) {
                return open_prompt(
                    model,
                    Purpose::FullRetry,
                    all_of_production(strategy, &service, &version, true),
                    vec![confirm_field(&service)],
                );
            }
            execute(model, Command::Retry { confirmed: false }, true)
        }
        Action::ConfirmReview => execute(model, Command::ConfirmCheckpoint, true),
        Action::MarkSucceeded => {
            // Marking a shift to 100% succeeded says all traffic is on the new version: it
            // asks for the service name like the shift itself.
            let mut fields = vec![reason_field("what you checked (recorded)")];
            if stuck_full_shift(model) {
                fields.push(confirm_field(&service));
            }
            open_prompt(
                model,
                Purpose::MarkSucceeded,
                "Mark the action SUCCEEDED (you checked by hand)".into(),
                fields,
            )
        }
        Action::MarkFailed => open_prompt(
            model,
            Purpose::MarkFailed,
            "Mark the action FAILED".into(),
            vec![reason_field("why (recorded)")],
        ),
        Action::Note => open_prompt(
            model,
            Purpose::Note,
            "Add a note to the record".into(),
            vec![reason_field("note")],
        ),
        Action::Claim => claim(model),
        Action::Unclaim => {
            let Some(step) = selected_step_id(model) else { return Vec::new() };
            execute(model, Command::Unclaim { step }, false)
        }
    }
}

/// Whether a step sends all of production to the new version (a shift to 100%, a deploy to
/// 100%): the engine asks for confirmation, so the key asks for the service name.
fn changes_all(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Traffic { weight: 100 } | StepKind::Deploy { target: 100, .. })
}

/// The confirmation's title: `Shift ALL traffic to shop 1.4.0?`, `Roll shop 1.4.0 out to ALL
/// of production?`, `Swap ALL of production to shop 1.4.0?`; `Retry: shift …` for a retry.
fn all_of_production(strategy: Strategy, service: &str, version: &str, retry: bool) -> String {
    let verb = |word: &str| {
        if retry {
            format!("Retry: {word}")
        } else {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
        }
    };
    match strategy {
        Strategy::Traffic => format!("{} ALL traffic to {service} {version}?", verb("shift")),
        Strategy::Rolling => {
            format!("{} {service} {version} out to ALL of production?", verb("roll"))
        }
        Strategy::Swap => format!("{} ALL of production to {service} {version}?", verb("swap")),
    }
}

/// How a plan of `strategy` changes production, in a few words.
fn strategy_noun(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Traffic => "shifting traffic",
        Strategy::Rolling => "a rolling deploy",
        Strategy::Swap => "a platform swap",
    }
}

/// Whether the current step is a failed or interrupted change to all of production (a shift
/// or deploy to 100%; not a rollback: its retries need no typing).
fn stuck_full_shift(model: &Model) -> bool {
    model.release.as_ref().is_some_and(|r| {
        matches!(r.state.status, Status::Running | Status::Paused)
            && r.plan.flat_steps().get(r.state.cursor).is_some_and(|s| changes_all(&s.step.kind))
            && r.state
                .current()
                .is_some_and(|s| matches!(s.status, StepStatus::Failed | StepStatus::Interrupted))
    })
}

/// The id of the step selected in the steps pane.
fn selected_step_id(model: &Model) -> Option<String> {
    let index = model.selected_step();
    model.release.as_ref().and_then(|r| r.state.steps.get(index)).map(|s| s.id.clone())
}

/// Claims the selected step, or renews your claim; someone else's live claim is taken over
/// only with a reason, typed in a prompt that names whose claim it is.
fn claim(model: &mut Model) -> Vec<Effect> {
    let Some(step) = selected_step_id(model) else { return Vec::new() };
    let holder = model
        .release
        .as_ref()
        .and_then(|r| r.state.steps.get(model.selected_step()))
        .and_then(|s| s.live_claim(model.now))
        .filter(|c| c.by.name != model.me.name)
        .map(|c| (c.by.short().to_owned(), format_hour_minute(c.until)));
    let Some((holder, until)) = holder else {
        return execute(model, Command::Claim { step, reason: None }, false);
    };
    let title = format!("TAKE OVER `{step}` from {holder} (claimed until {until} UTC)");
    let fields = vec![reason_field(&format!("why (recorded; {holder} sees it)"))];
    open_prompt_on(model, Purpose::TakeOver, title, fields, Some(step))
}

/// Shows the replay's current position in every pane.
fn show_replay_position(model: &mut Model) {
    let Some(replay) = &model.replay else { return };
    let view = super::replay::view_at(&replay.live, &replay.records, replay.position);
    let at = replay.records.get(replay.position.saturating_sub(1)).map_or(model.now, |r| r.at);
    model.probes = super::replay::board_at(&view.plan, &view.state, &replay.samples, at);
    model.release = Some(view);
    model.ui.timeline_back = 0;
    model.dirty = true;
}

fn leave_replay(model: &mut Model) {
    if let Some(replay) = model.replay.take() {
        model.release = Some(replay.live);
        model.probes = replay.live_probes;
        say(model, "back to live", Tone::Info);
        model.dirty = true;
    }
}

fn on_releases_key(model: &mut Model, key: Key) -> Vec<Effect> {
    let Some(Overlay::Releases(list)) = &mut model.overlay else { return Vec::new() };
    match key {
        Key::Up | Key::Char('k') => list.selected = list.selected.saturating_sub(1),
        Key::Down | Key::Char('j') => {
            list.selected = (list.selected + 1).min(list.rows.len().saturating_sub(1));
        }
        Key::Enter => {
            let id = list.rows.get(list.selected).map(|r| r.id);
            model.overlay = None;
            if let Some(id) = id {
                return vec![Effect::OpenRelease { id }];
            }
        }
        _ => model.overlay = None,
    }
    Vec::new()
}

fn toggle_tick(model: &mut Model) -> Vec<Effect> {
    let selected = model.selected_step();
    let item_index = model.ui.item;
    let Some(r) = &model.release else { return Vec::new() };
    let steps = r.plan.flat_steps();
    let Some(step) = steps.get(selected) else { return Vec::new() };
    let StepKind::Checklist { items } = &step.step.kind else {
        say(model, "the selected step is not a checklist", Tone::Error);
        return Vec::new();
    };
    let Some(item) = items.get(item_index) else { return Vec::new() };
    let ticked = r.state.steps.get(selected).is_some_and(|s| s.ticks.contains_key(&item.id));
    let item = item.id.clone();
    let command = if ticked { Command::Untick { item } } else { Command::Tick { item } };
    execute(model, command, false)
}

fn navigate(model: &mut Model, action: Action) {
    let page = usize::from(model.size.1 / 2).max(1);
    let delta: isize = match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -isize::try_from(page).unwrap_or(10),
        Action::PageDown => isize::try_from(page).unwrap_or(10),
        Action::Top => isize::MIN / 2,
        _ => isize::MAX / 2,
    };
    let Some(r) = &model.release else { return };
    match model.focus {
        Pane::Steps => {
            // The rollout steps the filter keeps, then the rollback procedure's steps: the
            // selection moves through both, so the rollback's steps are reachable.
            let rollback = r.state.rollback.as_ref().map_or(0, |rb| rb.steps.len());
            let first_rollback = r.state.steps.len();
            let mut rows = model.step_rows();
            rows.extend(first_rollback..first_rollback + rollback);
            let here = match model.selected_rollback_step() {
                Some(i) => first_rollback + i,
                None => model.selected_step(),
            };
            let at = rows.iter().position(|i| *i >= here).unwrap_or(rows.len().saturating_sub(1));
            if let Some(next) = moved(at, delta, rows.len()).and_then(|i| rows.get(i)) {
                model.ui.step = Some(*next);
            }
            model.ui.item = 0;
        }
        Pane::Detail => {
            let n =
                r.plan.flat_steps().get(model.selected_step()).map_or(0, |s| match &s.step.kind {
                    StepKind::Checklist { items } => items.len(),
                    _ => 0,
                });
            model.ui.item = model.ui.item.saturating_add_signed(delta).min(n.saturating_sub(1));
        }
        Pane::Health => {
            let rows = model.health_rows();
            let at = rows.iter().position(|i| *i >= model.ui.health).unwrap_or(0);
            if let Some(next) = moved(at, delta, rows.len()).and_then(|i| rows.get(i)) {
                model.ui.health = *next;
            }
        }
        Pane::Metrics => {
            let rows = model.metric_rows();
            let at = rows.iter().position(|i| *i >= model.ui.metric).unwrap_or(0);
            if let Some(next) = moved(at, delta, rows.len()).and_then(|i| rows.get(i)) {
                model.ui.metric = *next;
            }
        }
        Pane::Timeline => {
            // Up scrolls back in time: the offset counts lines from the newest.
            let n = model.timeline_rows().len();
            model.ui.timeline_back =
                model.ui.timeline_back.saturating_add_signed(-delta).min(n.saturating_sub(1));
        }
        Pane::Output => {
            let n = model.output_rows().len();
            model.ui.output_back =
                model.ui.output_back.saturating_add_signed(-delta).min(n.saturating_sub(1));
        }
    }
}

/// Position `at` of `len` rows moved by `delta`, kept in range; `None` when there are none.
fn moved(at: usize, delta: isize, len: usize) -> Option<usize> {
    (len > 0).then(|| at.saturating_add_signed(delta).min(len - 1))
}

fn on_prompt_key(model: &mut Model, key: Key) -> Vec<Effect> {
    let now = model.now;
    let Some(Overlay::Prompt(prompt)) = &mut model.overlay else { return Vec::new() };
    prompt.touched_at = now;
    match key {
        Key::Esc | Key::Ctrl('c') => {
            model.overlay = None;
            say(model, "cancelled; nothing was done", Tone::Info);
            Vec::new()
        }
        Key::Char(c) => {
            if let Some(f) = prompt.fields.get_mut(prompt.active) {
                if f.value.chars().count() < 200 {
                    f.value.push(c);
                }
            }
            prompt.error = None;
            Vec::new()
        }
        Key::Backspace => {
            if let Some(f) = prompt.fields.get_mut(prompt.active) {
                f.value.pop();
            }
            Vec::new()
        }
        Key::BackTab | Key::Up => {
            prompt.active = prompt.active.saturating_sub(1);
            Vec::new()
        }
        Key::Tab | Key::Down => {
            prompt.active = (prompt.active + 1).min(prompt.fields.len().saturating_sub(1));
            Vec::new()
        }
        Key::Enter => {
            let field = &prompt.fields[prompt.active];
            if field.value.trim().is_empty() {
                prompt.error = Some(format!("{} is required", field.label));
                return Vec::new();
            }
            if let Some(expected) = &field.must_equal {
                if field.value != *expected {
                    prompt.error =
                        Some(format!("type `{expected}` exactly to confirm (Esc cancels)"));
                    return Vec::new();
                }
            }
            if prompt.active + 1 < prompt.fields.len() {
                prompt.active += 1;
                return Vec::new();
            }
            let prompt = prompt.clone();
            model.overlay = None;
            submit(model, &prompt)
        }
        _ => Vec::new(),
    }
}

/// `a`: approve the current gate, or first ask for the typed inputs it still needs (one field
/// each; `a` again approves once they are given).
fn approve(model: &mut Model) -> Vec<Effect> {
    let missing: Vec<(String, String)> = model
        .release
        .as_ref()
        .and_then(|r| {
            let step = r.plan.flat_steps().get(r.state.cursor).copied()?;
            let StepKind::Gate { inputs, .. } = &step.step.kind else { return None };
            let s = r.state.current()?;
            Some(
                inputs
                    .iter()
                    .filter(|i| !s.inputs.contains_key(&i.id))
                    .map(|i| (i.id.clone(), i.prompt.clone()))
                    .collect(),
            )
        })
        .unwrap_or_default();
    if missing.is_empty() {
        return execute(model, Command::Approve, false);
    }
    let fields =
        missing.iter().map(|(id, prompt)| reason_field(&format!("{prompt} ({id})"))).collect();
    let effects = open_prompt(model, Purpose::GateInputs, "Inputs this gate needs".into(), fields);
    if let Some(Overlay::Prompt(p)) = &mut model.overlay {
        if p.purpose == Purpose::GateInputs {
            p.input_ids = missing.into_iter().map(|(id, _)| id).collect();
        }
    }
    effects
}

fn submit(model: &mut Model, prompt: &Prompt) -> Vec<Effect> {
    let text = prompt.fields.first().map(|f| f.value.trim().to_owned()).unwrap_or_default();
    let typed_name = prompt.fields.iter().any(|f| f.must_equal.is_some());
    let command = if prompt.purpose == Purpose::GateInputs {
        let values = prompt.fields.iter().map(|f| f.value.trim().to_owned());
        Command::GiveInputs { values: prompt.input_ids.iter().cloned().zip(values).collect() }
    } else {
        command_for(prompt.purpose, text, typed_name, prompt.step.clone())
    };
    let verb = command.verb().to_owned();
    let pinned = !command.commutes();
    model.pending = Some(verb.clone());
    say(model, format!("{verb}…"), Tone::Info);
    // Pinned to the state the person saw when the prompt opened, not when it closed: a no-go
    // typed while the gate passed must not land on the next gate.
    let seen_step = prompt.step.clone().or_else(|| seen_step(model));
    vec![Effect::Execute {
        command,
        expect_seq: pinned.then_some(prompt.seen_seq),
        seen_step,
        verb,
    }]
}

/// The command a prompt for `purpose` submits with `text` typed (`typed_name`: it asked for
/// the service name), acting on `step`.
fn command_for(purpose: Purpose, text: String, typed_name: bool, step: Option<String>) -> Command {
    match purpose {
        Purpose::Pause => Command::Pause { reason: text },
        Purpose::Decline => Command::Decline { reason: text },
        Purpose::Note => Command::Note { text },
        Purpose::Rollback => Command::Rollback { reason: text, confirmed: true, automatic: false },
        Purpose::Skip => Command::Skip { reason: text, confirmed: true },
        // No evidence: an override needs none, and without one the store judges the readings.
        Purpose::OverrideBake => {
            Command::PassBake { evidence: None, override_reason: Some(text), confirmed: true }
        }
        Purpose::FullShift => Command::Shift { confirmed: true },
        Purpose::FullNext => Command::Next { confirmed: true },
        Purpose::FullRetry => Command::Retry { confirmed: true },
        // Confirmed only if the prompt asked for the service name (and got it).
        Purpose::MarkSucceeded => Command::Resolve {
            resolution: Resolution::Succeeded,
            reason: text,
            confirmed: typed_name,
        },
        Purpose::MarkFailed => {
            Command::Resolve { resolution: Resolution::Failed, reason: text, confirmed: false }
        }
        Purpose::TakeOver => Command::Claim { step: step.unwrap_or_default(), reason: Some(text) },
        // Never asked for: `submit` builds GiveInputs from the fields and their input ids.
        Purpose::GateInputs => Command::GiveInputs { values: vec![(String::new(), text)] },
    }
}

/// The driver offers the lease to anyone; anyone else asks for it. Either way the driving
/// cockpit keeps driving until the other one takes it at its next heartbeat.
fn hand_over(model: &mut Model) -> Vec<Effect> {
    let Some(release) = &model.release else { return Vec::new() };
    let id = release.id;
    let to = match &model.lease {
        Some(lease) if lease.held_by(&model.me) => None,
        Some(_) => Some(model.me.name.clone()),
        None => {
            say(model, "nobody drives this release yet; this cockpit will", Tone::Info);
            return Vec::new();
        }
    };
    vec![Effect::HandOver { id, to }]
}
