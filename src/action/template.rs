//! Filling `{placeholders}` and resolving `${env:NAME}` secrets at the moment an action runs.
//! Secrets never leave this module except inside the request or process that needs them;
//! everything shown or stored uses the redacted form.

use std::collections::BTreeMap;

/// Values for the placeholders of one run.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<&'static str, String>,
}

impl Vars {
    /// Sets a placeholder's value.
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.values.insert(name, value.into());
        self
    }

    /// Fills every known `{name}`; unknown names were rejected when the plan was checked.
    pub fn fill(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// A text with its secrets resolved, and the secret values to redact from any output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// With secrets substituted: only for the process or request.
    pub secret: String,
    /// With secrets shown as `***`: for the screen, logs and store.
    pub shown: String,
}

/// Resolves `${env:NAME}` references; a missing variable is an error naming it.
pub fn resolve_secrets(text: &str, secrets: &mut Vec<String>) -> Result<Resolved, String> {
    let mut secret = String::new();
    let mut shown = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        secret.push_str(&rest[..start]);
        shown.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after.find('}').ok_or_else(|| format!("unclosed `${{env:` in `{text}`"))?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| {
            format!("environment variable {name} is not set (referenced as ${{env:{name}}})")
        })?;
        if !value.is_empty() {
            secrets.push(value.clone());
        }
        secret.push_str(&value);
        shown.push_str("***");
        rest = &after[end + 1..];
    }
    secret.push_str(rest);
    shown.push_str(rest);
    Ok(Resolved { secret, shown })
}

/// Names of every `${env:NAME}` in a text.
pub fn secret_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else { break };
        names.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    names
}

/// Replaces every secret value in `text` with `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_and_redacts_secrets() {
        let mut vars = Vars::default();
        vars.set("version", "1.4.0").set("weight", "10");
        assert_eq!(vars.fill("deploy {version} at {weight}%"), "deploy 1.4.0 at 10%");
        // SAFETY of the test: a variable name no other test uses.
        unsafe { std::env::set_var("FD_TEST_TOKEN_A", "s3cr3t-value") };
        let mut secrets = Vec::new();
        let r = resolve_secrets("Bearer ${env:FD_TEST_TOKEN_A}", &mut secrets).unwrap();
        assert_eq!(r.secret, "Bearer s3cr3t-value");
        assert_eq!(r.shown, "Bearer ***");
        assert_eq!(redact("got s3cr3t-value back", &secrets), "got *** back");
        assert!(
            resolve_secrets("${env:FD_TEST_SURELY_UNSET}", &mut secrets)
                .unwrap_err()
                .contains("FD_TEST_SURELY_UNSET")
        );
        assert_eq!(secret_names("a ${env:X} b ${env:Y}"), vec!["X", "Y"]);
    }
}
