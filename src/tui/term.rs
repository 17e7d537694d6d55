//! The terminal: raw mode and the alternate screen on entry, restored on every exit path
//! (normal quit, error, panic, signal). A panic restores first, reports, then ends the process.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::DefaultTerminal;
use ratatui::crossterm::{event, execute, terminal};

/// Enters the cockpit's screen (capturing the mouse only when asked: capture takes text
/// selection away from the terminal), or explains why it cannot.
pub fn enter(mouse: bool) -> Result<DefaultTerminal, String> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(
            "the cockpit needs a terminal; for scripts use `flightdeck status --json`".into()
        );
    }
    let terminal = ratatui::try_init().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    if mouse {
        execute!(std::io::stdout(), event::EnableMouseCapture)
            .map_err(|e| format!("cannot capture the mouse: {e}"))?;
        MOUSE_CAPTURED.store(true, Ordering::SeqCst);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        // A panic in any task must not leave a half-working cockpit behind.
        std::process::exit(1);
    }));
    Ok(terminal)
}

/// Whether the mouse was captured, so that it is given back on every exit path.
static MOUSE_CAPTURED: AtomicBool = AtomicBool::new(false);

/// Leaves the alternate screen, mouse capture and raw mode; safe to call more than once.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let mut out = std::io::stdout();
    if MOUSE_CAPTURED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, event::DisableMouseCapture);
    }
    let _ = execute!(out, terminal::LeaveAlternateScreen, ratatui::crossterm::cursor::Show);
    let _ = out.flush();
}
