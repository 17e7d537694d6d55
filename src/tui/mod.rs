//! The cockpit: the Elm architecture over ratatui. `model` is the one state, `msg` what
//! comes in, `update` the pure transition, `view` the pure drawing, and `app` the loop that
//! owns the model and performs effects.

pub mod app;
pub mod command_line;
pub mod effect;
pub mod keymap;
pub mod model;
pub mod msg;
pub mod replay;
pub mod term;
pub mod update;
pub mod view;

use crate::cli::Cli;
use crate::store::{Store, StoreError};
use crate::{clock, config, identity};

/// Why the cockpit could not open or had to stop; each keeps its cause for the log.
#[derive(Debug, thiserror::Error)]
pub enum CockpitError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading from or drawing to the terminal failed.
    #[error("the terminal failed: {0}")]
    Terminal(#[from] std::io::Error),
    /// The cockpit cannot run here, and why (no terminal, nothing to watch...).
    #[error("{0}")]
    Refused(String),
}

/// Opens the cockpit on a release (default: the running one, else the newest, else the
/// welcome screen). Returns the exit code.
pub async fn open(cli: &Cli, selector: Option<&str>) -> u8 {
    if let Err(e) = start_log(cli) {
        eprintln!("flightdeck: {e}");
        return crate::cli::EXIT_USAGE;
    }
    exit_code(open_inner(cli, selector).await)
}

/// The cockpit's log file (`--log FILE` or `FLIGHTDECK_LOG`): never the screen.
fn start_log(cli: &Cli) -> Result<(), String> {
    match &cli.log {
        Some(path) => crate::supervisor::log::to_file(path),
        None => Ok(()),
    }
}

/// Opens the cockpit on the database at `path` (used by the demo).
pub async fn open_at(
    path: &std::path::Path,
    read_only: bool,
    operator: Option<&str>,
    selector: Option<&str>,
    cli: &Cli,
) -> u8 {
    if let Err(e) = start_log(cli) {
        eprintln!("flightdeck: {e}");
        return crate::cli::EXIT_USAGE;
    }
    let location = crate::store::Location::Sqlite(path.to_path_buf());
    exit_code(open_location(&location, read_only, operator, selector, cli.ascii, cli.mouse).await)
}

fn exit_code(result: Result<app::Exit, CockpitError>) -> u8 {
    match result {
        Ok(app::Exit::Quit) => 0,
        Ok(app::Exit::Signal(name)) => {
            eprintln!(
                "flightdeck: {name} received; left the cockpit. The release keeps its state."
            );
            0
        }
        Err(e) => {
            tracing::error!("the cockpit stopped: {e:?}");
            eprintln!("flightdeck: {e}");
            1
        }
    }
}

async fn open_inner(cli: &Cli, selector: Option<&str>) -> Result<app::Exit, CockpitError> {
    let location = crate::cli::db_location(cli.db.as_deref())?;
    open_location(&location, cli.read_only, cli.operator.as_deref(), selector, cli.ascii, cli.mouse)
        .await
}

async fn open_location(
    location: &crate::store::Location,
    read_only: bool,
    operator: Option<&str>,
    selector: Option<&str>,
    ascii: bool,
    mouse_flag: bool,
) -> Result<app::Exit, CockpitError> {
    let store = if read_only && !location.may_exist() {
        return Err(CockpitError::Refused(format!(
            "no database at {location}; nothing to watch yet"
        )));
    } else {
        Store::open_at(location, read_only).await?
    };
    let release = match store.find(selector).await {
        Ok(row) => Some(app::load_view(&store, row.id).await?),
        Err(StoreError::NotFound(message)) if selector.is_some() => {
            return Err(CockpitError::Refused(message));
        }
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let user_config = config::load_user_config();
    let me = identity::current_actor(operator);
    if let (Some(r), Some(_)) = (&release, operator) {
        if !r.plan.policy.declared_operators {
            return Err(CockpitError::Refused("this plan records OS accounts only; --operator needs `declared_operators = true` in [policy]".into()));
        }
    }
    let keymap = keymap::Keymap::with_overrides(&user_config.keys);
    let mut model = model::Model::new(release, me, read_only, keymap, clock::now());
    model.db_label = location.to_string();
    model.ascii = view::glyphs::ascii_wanted(ascii);
    model.mouse = mouse_flag || user_config.mouse;
    model.bell = user_config.bell;
    model.status = with_config_warning(user_config.warning, model.status.take());
    let mut terminal = term::enter(model.mouse).map_err(CockpitError::Refused)?;
    let result = app::run(&mut terminal, store, model).await;
    term::restore();
    result
}

/// The first status line: the config file's problems, then the keymap's (both can be there
/// now that a bad entry costs only itself).
fn with_config_warning(
    warning: Option<String>,
    keymap: Option<model::StatusLine>,
) -> Option<model::StatusLine> {
    let Some(warning) = warning else { return keymap };
    let text = match keymap {
        Some(keys) => format!("{warning}; {}", keys.text),
        None => warning,
    };
    Some(model::StatusLine { text, tone: model::Tone::Error })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_file_warning_does_not_hide_the_keymap_warning() {
        let config =
            crate::config::parse_user_config("[keys]\nnext = 5\napprove = [\"nope\"]\n", "c");
        let keymap = super::keymap::Keymap::with_overrides(&config.keys);
        let model = super::model::Model::new(
            None,
            crate::release::Actor::person("alice", "vm", 1),
            false,
            keymap,
            crate::release::Timestamp(0),
        );
        let status = super::with_config_warning(config.warning, model.status).expect("warned");
        assert!(status.text.contains("[keys] next"), "{}", status.text);
        assert!(status.text.contains("[keys] approve"), "{}", status.text);
    }
}
