//! Rows and banners: `Enter` opens the selected row of Timeline, Health, Metrics or Output
//! in full, `x` acknowledges a decision banner on this screen, and a mouse click selects the
//! row under it.

use super::{Effect, Key, Model, Overlay, Pane, RowOverlay, RowRef, Tone, say};

/// `Enter` on Timeline, Health, Metrics or Output: the selected row in full.
pub(super) fn open_row(model: &mut Model) {
    let row = match model.focus {
        Pane::Timeline => model.selected_event().map(|e| RowRef::Event(e.seq)),
        Pane::Health => model
            .health_rows()
            .contains(&model.ui.health)
            .then_some(RowRef::Health(model.ui.health)),
        Pane::Metrics => model
            .metric_rows()
            .contains(&model.ui.metric)
            .then_some(RowRef::Metric(model.ui.metric)),
        Pane::Output => {
            let rows = model.output_rows();
            rows.len()
                .checked_sub(1 + model.ui.output_back)
                .and_then(|i| rows.get(i))
                .map(|(index, _)| RowRef::Output(*index))
        }
        Pane::Steps | Pane::Detail => None,
    };
    match row {
        Some(row) => model.overlay = Some(Overlay::Row(RowOverlay { row, scroll: 0 })),
        None => say(model, format!("nothing to open in {}", model.focus.title()), Tone::Info),
    }
}

/// Keys while a row is open in full: scroll; any other key (Esc, Enter, q, Ctrl-C) closes
/// it, as it closes the help.
pub(super) fn on_row_key(model: &mut Model, key: Key) -> Vec<Effect> {
    let page = usize::from(model.size.1 / 2).max(1);
    let Some(Overlay::Row(open)) = &mut model.overlay else { return Vec::new() };
    match key {
        Key::Up | Key::Char('k') => open.scroll = open.scroll.saturating_sub(1),
        Key::Down | Key::Char('j') => open.scroll += 1,
        Key::PageUp => open.scroll = open.scroll.saturating_sub(page),
        Key::PageDown | Key::Char(' ') => open.scroll += page,
        Key::Home | Key::Char('g') => open.scroll = 0,
        // The view stops the scroll at the last line; anything else closes.
        _ => model.overlay = None,
    }
    Vec::new()
}

/// `x`: the newest decision banner is acknowledged on this screen.
pub(super) fn acknowledge(model: &mut Model) {
    let banners = model.banners();
    let Some(newest) = banners.first().map(|e| e.seq) else {
        say(model, "no decision to acknowledge", Tone::Info);
        return;
    };
    let left = banners.len() - 1;
    model.ui.acked.push(newest);
    let more = match left {
        0 => String::new(),
        1 => "; the last one left shows now".into(),
        n => format!("; the next of {n} shows now"),
    };
    say(model, format!("acknowledged on this screen (still in the timeline){more}"), Tone::Info);
}

/// A click on `row` (inside the border) of `pane`, which shows `height` rows, selects what
/// is drawn there.
pub(super) fn click_row(model: &mut Model, pane: Pane, row: usize, height: usize) {
    // Timeline and output are drawn from the bottom: the last row is the one selected.
    let bottom_anchored = |len: usize, back: usize| {
        let end = len.saturating_sub(back);
        let start = end.saturating_sub(height);
        (start + row < end).then(|| len - 1 - (start + row))
    };
    match pane {
        Pane::Health => {
            if let Some(i) = model.health_rows().get(row) {
                model.ui.health = *i;
            }
        }
        Pane::Metrics => {
            if let Some(i) = model.metric_rows().get(row) {
                model.ui.metric = *i;
            }
        }
        Pane::Timeline => {
            if let Some(back) = bottom_anchored(model.timeline_rows().len(), model.ui.timeline_back)
            {
                model.ui.timeline_back = back;
            }
        }
        Pane::Output => {
            if let Some(back) = bottom_anchored(model.output_rows().len(), model.ui.output_back) {
                model.ui.output_back = back;
            }
        }
        Pane::Steps => {
            let lines = model.step_lines();
            let here = model.selected_rollback_step().map_or_else(
                || model.selected_step(),
                |i| model.release.as_ref().map_or(0, |r| r.state.steps.len()) + i,
            );
            let selected_line = lines.iter().position(|l| *l == Some(here)).unwrap_or(0);
            let offset = selected_line.saturating_sub(height.saturating_sub(2));
            if let Some(Some(step)) = lines.get(offset + row) {
                model.ui.step = Some(*step);
                model.ui.item = 0;
            }
        }
        Pane::Detail => {}
    }
}
