//! Where each pane was drawn in the last frame, so a mouse click can be mapped to the pane
//! (and the row inside it) under the pointer. Written while drawing, read by the loop; the
//! drawing itself never reads it.

use std::sync::Mutex;

use ratatui::layout::Rect;

use crate::tui::model::Pane;

/// The panes of the last frame and their areas.
static DRAWN: Mutex<Vec<(Pane, Rect)>> = Mutex::new(Vec::new());

/// Forgets the previous frame's panes.
pub(super) fn clear() {
    if let Ok(mut drawn) = DRAWN.lock() {
        drawn.clear();
    }
}

/// Notes that `pane` was drawn in `area`.
pub(super) fn drawn(pane: Pane, area: Rect) {
    if let Ok(mut drawn) = DRAWN.lock() {
        drawn.push((pane, area));
    }
}

/// What is under the pointer at `column`, `row`: the pane, the row inside its border
/// (`None` on the border itself) and the number of rows inside it.
pub fn pane_at(column: u16, row: u16) -> Option<(Pane, Option<usize>, usize)> {
    let drawn = DRAWN.lock().ok()?;
    let (pane, area) = drawn.iter().find(|(_, a)| {
        column >= a.x && column < a.x + a.width && row >= a.y && row < a.y + a.height
    })?;
    let inside =
        (row > area.y && row + 1 < area.y + area.height).then(|| usize::from(row - area.y - 1));
    Some((*pane, inside, usize::from(area.height.saturating_sub(2))))
}
