//! Values one action passes to later ones: an action's `outputs` (names → JSON pointers
//! into its stdout or HTTP body) and the `{outputs.STEP.NAME}` placeholders that read
//! them, with the rule `check` enforces (only a step that runs earlier, and whose action
//! declares the name).

use super::{Plan, StepKind};

/// Placeholders naming an output start with this.
pub const PREFIX: &str = "outputs.";

/// The `(step, name)` an `outputs.STEP.NAME` placeholder name refers to.
pub fn reference(placeholder: &str) -> Option<(&str, &str)> {
    let (step, name) = placeholder.strip_prefix(PREFIX)?.rsplit_once('.')?;
    (!step.is_empty() && !name.is_empty()).then_some((step, name))
}

/// Whether `name` may name an output (and be a key of `outputs`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A placeholder that can never be filled: the action using it, the placeholder, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misuse {
    /// Action id.
    pub action: String,
    /// The placeholder, braces and all.
    pub placeholder: String,
    /// Why it cannot be filled.
    pub why: String,
}

/// Every `{outputs.STEP.NAME}` in the plan's actions that names a step which is not an
/// action step, whose action declares no output `NAME`, or which does not run before every
/// rollout step that uses the action (rollback steps run after the rollout, so any rollout
/// step may feed them; a step that did not run leaves the placeholder unfilled, which fails
/// the action at run time).
pub fn misuses(plan: &Plan, texts_of: impl Fn(&str) -> Vec<String>) -> Vec<Misuse> {
    let steps = plan.flat_steps();
    let mut found = Vec::new();
    for id in plan.actions.keys() {
        let users: Vec<(usize, &str)> = steps
            .iter()
            .filter(|r| match &r.step.kind {
                StepKind::Action { action, .. } | StepKind::Deploy { action, .. } => action == id,
                StepKind::Traffic { .. } => {
                    plan.traffic.as_ref().is_some_and(|t| &t.set_action == id)
                }
                _ => false,
            })
            .map(|r| (r.index, r.step.id.as_str()))
            .collect();
        for text in texts_of(id) {
            for placeholder in super::template::placeholders(&text) {
                let Some((step, name)) = reference(&placeholder) else { continue };
                let misuse = |why: String| Misuse {
                    action: id.clone(),
                    placeholder: format!("{{{placeholder}}}"),
                    why,
                };
                let source = steps.iter().find(|r| r.step.id == step);
                let declares =
                    source.and_then(|r| r.step.kind.own_action()).and_then(|(a, _)| plan.action(a));
                let Some(source) = source else {
                    found.push(misuse(format!("there is no step `{step}`")));
                    continue;
                };
                let Some(spec) = declares else {
                    found.push(misuse(format!("step `{step}` is not an action or deploy step")));
                    continue;
                };
                if !spec.outputs.contains_key(name) {
                    let known: Vec<&str> = spec.outputs.keys().map(String::as_str).collect();
                    let known = if known.is_empty() { "none".into() } else { known.join(", ") };
                    found.push(misuse(format!(
                        "action `{}` of step `{step}` declares no output `{name}` (it declares: {known})",
                        spec.id
                    )));
                    continue;
                }
                if let Some((_, user)) = users.iter().find(|(i, _)| *i <= source.index) {
                    found.push(misuse(format!(
                        "step `{user}` runs this action before (or as) step `{step}`, whose output it reads"
                    )));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_splits_at_the_last_dot() {
        assert_eq!(reference("outputs.deploy-app.deploy_id"), Some(("deploy-app", "deploy_id")));
        assert_eq!(reference("outputs.deploy"), None);
        assert_eq!(reference("version"), None);
    }
}
