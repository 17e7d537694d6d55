//! The user's own settings (not the plan): key overrides under `[keys]`, read from the
//! platform config directory. A bad file is a warning on screen, never a crash, and a bad
//! entry costs only itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The user config file's contents.
#[derive(Debug)]
pub struct UserConfig {
    /// Action name → keys, e.g. `approve = ["A"]` (a single `approve = "A"` reads the same).
    pub keys: BTreeMap<String, Vec<String>>,
    /// What in the file could not be used, if anything (the rest applies).
    pub warning: Option<String>,
    /// `mouse = true`: clicks focus panes and select rows, the wheel scrolls (off by default:
    /// capturing the mouse takes text selection away from the terminal).
    pub mouse: bool,
    /// `bell = false`: no terminal bell when an action fails, a probe goes down or
    /// flightdeck decides by itself (on by default).
    pub bell: bool,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self { keys: BTreeMap::new(), warning: None, mouse: false, bell: true }
    }
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
    parse_user_config(&text, &path.display().to_string())
}

/// Reads the text of a user config named `origin` (its path, for messages). A file that is
/// not TOML at all keeps every default; otherwise each entry is taken or skipped on its own,
/// and what was skipped is named in the warning.
pub fn parse_user_config(text: &str, origin: &str) -> UserConfig {
    let table = match toml::from_str::<toml::Table>(text) {
        Ok(table) => table,
        Err(e) => {
            let line =
                e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            return UserConfig {
                warning: Some(format!(
                    "{origin}:{line}: {} (using default keys)",
                    e.message().trim()
                )),
                ..UserConfig::default()
            };
        }
    };
    let mut config = UserConfig::default();
    let mut problems = Vec::new();
    for (section, value) in table {
        match (section.as_str(), value) {
            ("keys", toml::Value::Table(keys)) => {
                for (action, value) in keys {
                    match key_list(value) {
                        Ok(list) => {
                            config.keys.insert(action, list);
                        }
                        Err(found) => problems.push(format!(
                            "[keys] {action}: expected a list of keys like [\"A\"], found {found}; kept the default"
                        )),
                    }
                }
            }
            ("keys", other) => problems.push(format!(
                "`keys` must be a [keys] table, found {}; using default keys",
                other.type_str()
            )),
            ("mouse", toml::Value::Boolean(on)) => config.mouse = on,
            ("bell", toml::Value::Boolean(on)) => config.bell = on,
            (name @ ("mouse" | "bell"), other) => problems.push(format!(
                "`{name}` must be true or false, found {} {other}; kept the default",
                other.type_str()
            )),
            (other, _) => problems.push(format!("unknown setting `{other}` ignored")),
        }
    }
    if !problems.is_empty() {
        config.warning = Some(format!("{origin}: {}", problems.join("; ")));
    }
    config
}

/// The keys of one `[keys]` entry: a list of strings, or one string; else what was found.
fn key_list(value: toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::String(key) => Ok(vec![key]),
        toml::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::String(key) => Ok(key),
                other => Err(format!("a list holding {} {other}", other.type_str())),
            })
            .collect(),
        other => Err(format!("{} {other}", other.type_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_example_reads_whole() {
        let config =
            parse_user_config("[keys]\napprove = [\"A\"]\nnext = [\"n\", \"enter\"]\n", "c");
        assert_eq!(config.warning, None);
        assert_eq!(config.keys["approve"], vec!["A"]);
        assert_eq!(config.keys["next"], vec!["n", "enter"]);
    }

    #[test]
    fn one_badly_typed_entry_discards_only_itself() {
        let text = "[keys]\napprove = [\"A\"]\nnext = 5\nskip = [\"K\", 3]\nshift = \"x\"\n";
        let config = parse_user_config(text, "cfg.toml");
        assert_eq!(config.keys.len(), 2, "{:?}", config.keys);
        assert_eq!(config.keys["approve"], vec!["A"]);
        assert_eq!(config.keys["shift"], vec!["x"], "one string is one key");
        let warning = config.warning.expect("the bad entries are named");
        assert!(warning.starts_with("cfg.toml: "), "{warning}");
        assert!(warning.contains("[keys] next"), "{warning}");
        assert!(warning.contains("[keys] skip"), "{warning}");
        assert!(!warning.contains("approve"), "{warning}");
    }

    #[test]
    fn an_unknown_section_keeps_the_keys() {
        let config = parse_user_config("theme = \"dark\"\n[keys]\napprove = [\"A\"]\n", "c");
        assert_eq!(config.keys["approve"], vec!["A"]);
        assert!(config.warning.is_some_and(|w| w.contains("`theme`")));
    }

    #[test]
    fn a_file_that_is_not_toml_names_its_line() {
        let config = parse_user_config("[keys]\napprove = [\"A\"\n", "c");
        assert!(config.keys.is_empty());
        assert!(config.warning.is_some_and(|w| w.starts_with("c:")));
    }

    #[test]
    fn mouse_and_bell_are_read_and_a_wrong_type_keeps_the_default() {
        let config = parse_user_config("mouse = true\nbell = false\n", "c");
        assert!(config.mouse && !config.bell && config.warning.is_none());
        let config = parse_user_config("mouse = \"yes\"\nbell = 0\n", "c");
        assert!(!config.mouse && config.bell);
        let warning = config.warning.expect("warned");
        assert!(warning.contains("`mouse` must be true or false"), "{warning}");
        assert!(warning.contains("`bell` must be true or false"), "{warning}");
    }
}
