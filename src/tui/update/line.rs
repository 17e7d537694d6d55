//! The bottom line: `/` filters the focused pane as it is typed (Enter keeps, Esc clears),
//! and `:` runs a command, each verb done exactly as its key (the same refusals, the same
//! dialogs).

use super::{
    Effect, Key, LineEdit, LineKind, Model, Overlay, Pane, Status, Tone, may_act, on_action,
    on_prompt_key, say,
};

/// `/`: the focused pane's filter is typed on the bottom line, applied as it is typed.
pub(super) fn start_filter(model: &mut Model) {
    let pane = model.focus;
    if model.ui.filter_mut(pane).is_none() {
        say(model, "the detail pane has no rows to filter; Tab to another pane", Tone::Info);
        return;
    }
    let text = model.ui.filter_for(pane).to_owned();
    model.line = Some(LineEdit { kind: LineKind::Filter(pane), text, choices: Vec::new() });
}

/// Keys while the bottom line is typed: a filter applies at each key; a command runs on
/// Enter. Esc closes it (and clears a filter).
pub(super) fn on_line_key(model: &mut Model, key: Key) -> Vec<Effect> {
    let Some(line) = &mut model.line else { return Vec::new() };
    let kind = line.kind;
    // Completion choices last until the next key.
    line.choices.clear();
    match key {
        // Ctrl-C cancels what is being typed, as it cancels a dialog.
        Key::Esc | Key::Ctrl('c') => {
            model.line = None;
            if let LineKind::Filter(pane) = kind {
                return clear_filter(model, pane);
            }
            return Vec::new();
        }
        Key::Enter => {
            let text = line.text.clone();
            model.line = None;
            return match kind {
                LineKind::Filter(pane) => {
                    let kept = if text.is_empty() { "cleared" } else { "kept (Esc clears it)" };
                    say(model, format!("{} filter {kept}", pane.title()), Tone::Info);
                    Vec::new()
                }
                LineKind::Command => run_command(model, &text),
            };
        }
        Key::Backspace => {
            if line.text.pop().is_none() && kind == LineKind::Command {
                // Backspace on an empty command line leaves it, as in vi.
                model.line = None;
                return Vec::new();
            }
        }
        Key::Tab if kind == LineKind::Command => {
            let (text, choices) = crate::tui::command_line::complete(&line.text);
            line.text = text;
            line.choices = choices;
            return Vec::new();
        }
        Key::Char(c) => {
            if line.text.chars().count() < 200 {
                line.text.push(c);
            }
        }
        _ => return Vec::new(),
    }
    if let (LineKind::Filter(pane), Some(line)) = (kind, &model.line) {
        let text = line.text.clone();
        set_filter(model, pane, text);
    }
    Vec::new()
}

/// Clears a pane's filter and says so.
pub(super) fn clear_filter(model: &mut Model, pane: Pane) -> Vec<Effect> {
    set_filter(model, pane, String::new());
    say(model, format!("{} filter cleared", pane.title()), Tone::Info);
    Vec::new()
}

/// Sets a pane's filter; its selection goes back to the newest or first matching row.
fn set_filter(model: &mut Model, pane: Pane, text: String) {
    if let Some(filter) = model.ui.filter_mut(pane) {
        *filter = text;
    }
    match pane {
        Pane::Timeline => model.ui.timeline_back = 0,
        Pane::Output => model.ui.output_back = 0,
        Pane::Health => {
            if let Some(first) = model.health_rows().first() {
                model.ui.health = *first;
            }
        }
        Pane::Metrics => {
            if let Some(first) = model.metric_rows().first() {
                model.ui.metric = *first;
            }
        }
        Pane::Steps => {
            let rows = model.step_rows();
            if !rows.contains(&model.selected_step()) {
                model.ui.step = rows.first().copied();
            }
        }
        Pane::Detail => {}
    }
}

/// Runs a typed command: its verb is a key's action, done exactly as the key does it (the
/// same refusals, the same dialog); text typed after the verb fills the dialog's first field,
/// and a dialog that asks nothing more is submitted at once (a typed confirmation is still
/// typed in the dialog).
fn run_command(model: &mut Model, line: &str) -> Vec<Effect> {
    let parsed = match crate::tui::command_line::parse(line) {
        Ok(parsed) => parsed,
        Err(e) => {
            say(model, e, Tone::Error);
            return vec![Effect::Bell];
        }
    };
    let (verb, text) = (parsed.verb, parsed.text);
    let how = format!(":{}", verb.name);
    if !may_act(model, verb.action, &how) {
        return Vec::new();
    }
    // `p` toggles; the two verbs each say which they mean.
    let paused = model.live().is_some_and(|(r, _)| r.state.status == Status::Paused);
    match verb.name {
        "pause" if paused => {
            say(model, "the release is already paused; `:resume` resumes it", Tone::Error);
            return vec![Effect::Bell];
        }
        "resume" if !paused => {
            say(model, "the release is not paused; nothing to resume", Tone::Error);
            return vec![Effect::Bell];
        }
        "filter" => {
            if model.ui.filter_mut(model.focus).is_none() {
                say(
                    model,
                    "the detail pane has no rows to filter; Tab to another pane",
                    Tone::Info,
                );
            } else {
                let pane = model.focus;
                set_filter(model, pane, text);
            }
            return Vec::new();
        }
        _ => {}
    }
    let mut effects = on_action(model, verb.action);
    if text.is_empty() {
        return effects;
    }
    let Some(Overlay::Prompt(prompt)) = &mut model.overlay else {
        return effects;
    };
    if let Some(first) = prompt.fields.first_mut().filter(|f| f.must_equal.is_none()) {
        first.value = text;
        // The reason is given: Enter moves to the confirmation, or submits.
        effects.extend(on_prompt_key(model, Key::Enter));
    }
    effects
}
