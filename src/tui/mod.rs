//! The cockpit: the Elm architecture over ratatui. `model` is the one state, `msg` what
//! comes in, `update` the pure transition, `view` the pure drawing, and `app` the loop that
//! owns the model and performs effects.

pub mod app;
pub mod effect;
pub mod keymap;
pub mod model;
pub mod msg;
pub mod replay;
pub mod term;
pub mod update;
pub mod view;

use crate::cli::Cli;
use crate::store::Store;
use crate::{clock, config, identity};

/// Opens the cockpit on a release (default: the running one, else the newest, else the
/// welcome screen). Returns the exit code.
pub async fn open(cli: &Cli, selector: Option<&str>) -> u8 {
    exit_code(open_inner(cli, selector).await)
}

/// Opens the cockpit on the database at `path` (used by the demo).
pub async fn open_at(
    path: &std::path::Path,
    read_only: bool,
    operator: Option<&str>,
    selector: Option<&str>,
    _cli: &Cli,
) -> u8 {
    let location = crate::store::Location::Sqlite(path.to_path_buf());
    exit_code(open_location(&location, read_only, operator, selector).await)
}

fn exit_code(result: Result<app::Exit, String>) -> u8 {
    match result {
        Ok(app::Exit::Quit) => 0,
        Ok(app::Exit::Signal(name)) => {
            eprintln!(
                "flightdeck: {name} received; left the cockpit. The release keeps its state."
            );
            0
        }
        Err(message) => {
            eprintln!("flightdeck: {message}");
            1
        }
    }
}

async fn open_inner(cli: &Cli, selector: Option<&str>) -> Result<app::Exit, String> {
    let location = crate::cli::db_location(cli.db.as_deref()).map_err(|e| e.to_string())?;
    open_location(&location, cli.read_only, cli.operator.as_deref(), selector).await
}

async fn open_location(
    location: &crate::store::Location,
    read_only: bool,
    operator: Option<&str>,
    selector: Option<&str>,
) -> Result<app::Exit, String> {
    let store = if read_only && !location.may_exist() {
        return Err(format!("no database at {location}; nothing to watch yet"));
    } else {
        Store::open_at(location, read_only).await.map_err(|e| e.to_string())?
    };
    let release = match store.find(selector).await {
        Ok(row) => Some(app::load_view(&store, row.id).await.map_err(|e| e.to_string())?),
        Err(crate::store::StoreError::NotFound(message)) if selector.is_some() => {
            return Err(message);
        }
        Err(crate::store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.to_string()),
    };
    let user_config = config::load_user_config();
    let me = identity::current_actor(operator);
    if let (Some(r), Some(_)) = (&release, operator) {
        if !r.plan.policy.declared_operators {
            return Err("this plan records OS accounts only; --operator needs `declared_operators = true` in [policy]".into());
        }
    }
    let keymap = keymap::Keymap::with_overrides(&user_config.keys);
    let mut model = model::Model::new(release, me, read_only, keymap, clock::now());
    model.db_label = location.to_string();
    if let Some(warning) = user_config.warning {
        model.status = Some(model::StatusLine { text: warning, tone: model::Tone::Error });
    }
    let mut terminal = term::enter()?;
    let result = app::run(&mut terminal, store, model).await;
    term::restore();
    result
}
