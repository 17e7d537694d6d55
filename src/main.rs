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
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("flightdeck: cannot start the async runtime: {e}");
                return ExitCode::from(cli::EXIT_ERROR);
            }
        };
    ExitCode::from(runtime.block_on(cli::run(cli)))
}
