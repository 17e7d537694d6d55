//! The user's own settings (not the plan): key overrides under `[keys]`, read from the
//! platform config directory. A bad file is a warning on screen, never a crash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The user config file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Action name → keys, e.g. `approve = ["A"]`.
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
    /// Why the file could not be used, if it could not.
    #[serde(skip)]
    pub warning: Option<String>,
}

/// Where the user config lives: `$FLIGHTDECK_CONFIG`, else the platform config directory.
pub fn user_config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLIGHTDECK_CONFIG") {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("dev", "flightdeck", "flightdeck")
        .map(|d| d.config_dir().join("config.toml"))
}

/// Reads the user config; a missing file is the defaults, a broken one a warning.
pub fn load_user_config() -> UserConfig {
    let Some(path) = user_config_path() else { return UserConfig::default() };
    let Ok(text) = std::fs::read_to_string(&path) else { return UserConfig::default() };
    match toml::from_str::<UserConfig>(&text) {
        Ok(config) => config,
        Err(e) => {
            let line =
                e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            UserConfig {
                warning: Some(format!(
                    "{}:{line}: {} (using default keys)",
                    path.display(),
                    e.message().trim()
                )),
                ..UserConfig::default()
            }
        }
    }
}
