//! The flightdeck binary: parse the command line, then open the cockpit or run a verb.

use std::process::ExitCode;

use clap::Parser;
use flightdeck::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.color.as_str() {
        "always" => ratatui::crossterm::style::force_color_output(true),
        "never" => ratatui::crossterm::style::force_color_output(false),
        _ => {}
    }
    // One thread: the cockpit's work is waiting (keys, probes, the store), and every hop
    // between worker threads is a wakeup that costs more than the work (tty bench: idle CPU
    // 0.7% -> 0.55% of a core). SQLite runs on sqlx's own threads.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flightdeck: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_ERROR);
        }
    };
    ExitCode::from(runtime.block_on(cli::run(cli)))
}
