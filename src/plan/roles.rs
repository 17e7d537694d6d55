//! Roles at gates: `[roles]` names who may fill a role, a gate's `requires` says how many
//! of each it needs. One person fills one role; who fills which is chosen so that as many
//! requirements as possible are met (a matching), so an approver in two roles never blocks.

use std::collections::BTreeMap;

/// A role still short of people at a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The role's name under `[roles]`.
    pub role: String,
    /// How many more of its members must approve.
    pub more: u32,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "needs {} more {}", self.more, self.role)
    }
}

/// What `requires` still lacks given who approved, in role order; empty when it is met.
pub fn missing(
    requires: &BTreeMap<String, u32>,
    roles: &BTreeMap<String, Vec<String>>,
    approvers: &[&str],
) -> Vec<Missing> {
    // One slot per person a role needs; each approver may take one slot of a role they are in.
    let slots: Vec<&str> = requires
        .iter()
        .flat_map(|(role, n)| std::iter::repeat_n(role.as_str(), *n as usize))
        .collect();
    let fits = |person: &str, slot: usize| {
        roles.get(slots[slot]).is_some_and(|members| members.iter().any(|m| m == person))
    };
    let mut taken_by: Vec<Option<usize>> = vec![None; slots.len()];
    for person in 0..approvers.len() {
        let mut visited = vec![false; slots.len()];
        assign(person, approvers, &fits, &mut taken_by, &mut visited);
    }
    requires
        .iter()
        .filter_map(|(role, n)| {
            let filled = slots
                .iter()
                .zip(&taken_by)
                .filter(|(slot, taken)| **slot == role.as_str() && taken.is_some())
                .count();
            let more = n.saturating_sub(u32::try_from(filled).unwrap_or(u32::MAX));
            (more > 0).then(|| Missing { role: role.clone(), more })
        })
        .collect()
}

/// Finds `person` a slot, moving earlier approvers to other slots they fit if need be.
fn assign(
    person: usize,
    approvers: &[&str],
    fits: &dyn Fn(&str, usize) -> bool,
    taken_by: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for slot in 0..taken_by.len() {
        if visited[slot] || !fits(approvers[person], slot) {
            continue;
        }
        visited[slot] = true;
        let free = match taken_by[slot] {
            None => true,
            Some(other) => assign(other, approvers, fits, taken_by, visited),
        };
        if free {
            taken_by[slot] = Some(person);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("engineer".into(), vec!["alice".into(), "carol".into(), "dave".into()]),
            ("release_manager".into(), vec!["alice".into(), "bob".into()]),
        ])
    }

    fn requires(rm: u32, eng: u32) -> BTreeMap<String, u32> {
        BTreeMap::from([("release_manager".into(), rm), ("engineer".into(), eng)])
    }

    fn words(missing: &[Missing]) -> Vec<String> {
        missing.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn nobody_yet_misses_every_role() {
        assert_eq!(
            words(&missing(&requires(1, 1), &roles(), &[])),
            ["needs 1 more engineer", "needs 1 more release_manager"]
        );
    }

    #[test]
    fn one_person_fills_one_role() {
        // alice is both, but counts once.
        assert_eq!(
            words(&missing(&requires(1, 1), &roles(), &["alice"])),
            ["needs 1 more release_manager"]
        );
    }

    #[test]
    fn a_person_in_two_roles_moves_to_the_one_nobody_else_fills() {
        // alice first took engineer; bob arrives, only a release manager: both are met, and in
        // the other order too.
        assert!(missing(&requires(1, 1), &roles(), &["alice", "bob"]).is_empty());
        assert!(missing(&requires(1, 1), &roles(), &["bob", "alice"]).is_empty());
        assert!(missing(&requires(1, 1), &roles(), &["carol", "alice"]).is_empty());
        assert_eq!(
            words(&missing(&requires(2, 1), &roles(), &["alice", "carol"])),
            ["needs 1 more release_manager"]
        );
    }

    #[test]
    fn people_outside_every_role_fill_none() {
        assert_eq!(
            words(&missing(&requires(1, 0), &roles(), &["mallory", "carol"])),
            ["needs 1 more release_manager"]
        );
    }
}
