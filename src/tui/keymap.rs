//! The one table of key bindings. The footer and the `?` overlay are generated from it, and
//! user overrides from `[keys]` patch it; a bad override is a warning, never a crash.

use std::collections::BTreeMap;
use std::fmt;

/// A key as the cockpit understands it, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Ctrl with a letter.
    Ctrl(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Backspace.
    Backspace,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Char(' ') => f.write_str("Space"),
            Key::Char(c) => write!(f, "{c}"),
            Key::Ctrl(c) => write!(f, "Ctrl-{}", c.to_ascii_uppercase()),
            Key::Enter => f.write_str("Enter"),
            Key::Esc => f.write_str("Esc"),
            Key::Backspace => f.write_str("Backspace"),
            Key::Tab => f.write_str("Tab"),
            Key::BackTab => f.write_str("Shift-Tab"),
            Key::Up => f.write_str("↑"),
            Key::Down => f.write_str("↓"),
            Key::Left => f.write_str("←"),
            Key::Right => f.write_str("→"),
            Key::PageUp => f.write_str("PgUp"),
            Key::PageDown => f.write_str("PgDn"),
            Key::Home => f.write_str("Home"),
            Key::End => f.write_str("End"),
        }
    }
}

impl Key {
    /// Parses a key as written in the config: `a`, `R`, `space`, `enter`, `ctrl-l`, `tab`.
    pub fn parse(text: &str) -> Option<Key> {
        let lower = text.to_ascii_lowercase();
        let named = match lower.as_str() {
            "space" => Some(Key::Char(' ')),
            "enter" | "return" => Some(Key::Enter),
            "esc" | "escape" => Some(Key::Esc),
            "backspace" => Some(Key::Backspace),
            "tab" => Some(Key::Tab),
            "backtab" | "shift-tab" => Some(Key::BackTab),
            "up" => Some(Key::Up),
            "down" => Some(Key::Down),
            "left" => Some(Key::Left),
            "right" => Some(Key::Right),
            "pageup" | "pgup" => Some(Key::PageUp),
            "pagedown" | "pgdn" => Some(Key::PageDown),
            "home" => Some(Key::Home),
            "end" => Some(Key::End),
            _ => None,
        };
        if named.is_some() {
            return named;
        }
        if let Some(rest) = lower.strip_prefix("ctrl-") {
            let mut chars = rest.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphabetic() => Some(Key::Ctrl(c)),
                _ => None,
            };
        }
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => Some(Key::Char(c)),
            _ => None,
        }
    }
}

/// What a person means by a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Move focus to the next pane.
    FocusNext,
    /// Move focus to the previous pane.
    FocusPrev,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Jump to the top.
    Top,
    /// Jump to the bottom (newest).
    Bottom,
    /// Open the selected step's detail.
    Open,
    /// Tick or untick the selected checklist item.
    ToggleTick,
    /// Approve the current gate.
    Approve,
    /// Take back your approval or no-go.
    Revoke,
    /// Say no-go at the current gate (asks why).
    Decline,
    /// Start or finish the current step.
    Next,
    /// Shift traffic to the current traffic step's weight.
    Shift,
    /// Pause (asks why) or resume.
    PauseResume,
    /// Roll back (asks why, then for the service name).
    Rollback,
    /// Skip the current step (asks why, then for the service name).
    Skip,
    /// Pass a bake whose readings do not show it passed, on a person's word (asks why, then
    /// for the service name; recorded as a manual override).
    OverrideBake,
    /// Retry the failed or interrupted action.
    Retry,
    /// Mark the failed or interrupted action as succeeded (asks why).
    MarkSucceeded,
    /// Mark the interrupted action as failed (asks why).
    MarkFailed,
    /// Add a note to the record.
    Note,
    /// Confirm the review checkpoint that is due in a long bake.
    ConfirmReview,
    /// Claim the selected step, or renew your claim (taking someone's over asks why).
    Claim,
    /// Let go of your claim on the selected step.
    Unclaim,
    /// Filter the focused pane's rows as you type (Enter keeps it, Esc clears it).
    Filter,
    /// Type a command: the CLI's verbs (`:note text`, `:pause reason`, `:report`, …).
    CommandLine,
    /// Acknowledge the decision banner shown (flightdeck's own rollback, pause, drift…).
    Acknowledge,
    /// Show the traffic history.
    TrafficHistory,
    /// List every release, to open one read-only.
    Releases,
    /// Replay the release: scrub through its history.
    Replay,
    /// In replay: one event back.
    ReplayBack,
    /// In replay: one event forward.
    ReplayForward,
    /// Write the release's deployment report to a file.
    ExportReport,
    /// Hand the driver lease over (driver), or ask for it (anyone else).
    HandOver,
    /// Show every key.
    Help,
    /// Redraw the whole screen.
    Redraw,
    /// Leave the cockpit; the release keeps its state.
    Quit,
}

impl Action {
    /// The name used in `[keys]` overrides.
    pub fn name(self) -> &'static str {
        match self {
            Self::FocusNext => "focus_next",
            Self::FocusPrev => "focus_prev",
            Self::Up => "up",
            Self::Down => "down",
            Self::PageUp => "page_up",
            Self::PageDown => "page_down",
            Self::Top => "top",
            Self::Bottom => "bottom",
            Self::Open => "open",
            Self::ToggleTick => "tick",
            Self::Approve => "approve",
            Self::Revoke => "revoke",
            Self::Decline => "decline",
            Self::Next => "next",
            Self::Shift => "shift",
            Self::PauseResume => "pause",
            Self::Rollback => "rollback",
            Self::Skip => "skip",
            Self::OverrideBake => "override_bake",
            Self::Retry => "retry",
            Self::MarkSucceeded => "mark_succeeded",
            Self::MarkFailed => "mark_failed",
            Self::Note => "note",
            Self::ConfirmReview => "confirm_review",
            Self::Claim => "claim",
            Self::Unclaim => "unclaim",
            Self::Filter => "filter",
            Self::CommandLine => "command",
            Self::Acknowledge => "acknowledge",
            Self::TrafficHistory => "traffic_history",
            Self::Releases => "releases",
            Self::Replay => "replay",
            Self::ReplayBack => "replay_back",
            Self::ReplayForward => "replay_forward",
            Self::ExportReport => "export_report",
            Self::HandOver => "hand_over",
            Self::Help => "help",
            Self::Redraw => "redraw",
            Self::Quit => "quit",
        }
    }

    /// Whether the action changes the release (refused when read-only).
    pub fn acts(self) -> bool {
        matches!(
            self,
            Self::ToggleTick
                | Self::Approve
                | Self::Revoke
                | Self::Decline
                | Self::Next
                | Self::Shift
                | Self::PauseResume
                | Self::Rollback
                | Self::Skip
                | Self::OverrideBake
                | Self::Retry
                | Self::MarkSucceeded
                | Self::MarkFailed
                | Self::Note
                | Self::ConfirmReview
                | Self::HandOver
                | Self::Claim
                | Self::Unclaim
        )
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere.
    Global,
    /// Only with the checklist (detail) pane focused.
    Checklist,
    /// Only with the timeline focused.
    Timeline,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Keys that trigger it.
    pub keys: Vec<Key>,
    /// What it does.
    pub action: Action,
    /// Help text.
    pub desc: &'static str,
    /// Short label for the footer (empty: not in the footer).
    pub footer: &'static str,
    /// Where it applies.
    pub context: Context,
    /// Needs a typed confirmation.
    pub destructive: bool,
}

fn b(
    keys: &[Key],
    action: Action,
    desc: &'static str,
    footer: &'static str,
    context: Context,
) -> Binding {
    Binding { keys: keys.to_vec(), action, desc, footer, context, destructive: false }
}

/// The default bindings. Letters, Enter/Esc/Tab/arrows and Ctrl-L only: they survive tmux
/// and ssh, and avoid tmux's and shells' prefixes (no Ctrl-A/B, no Alt).
pub fn default_bindings() -> Vec<Binding> {
    use Action as A;
    use Context::{Checklist, Global};
    use Key as K;
    let mut v = vec![
        b(&[K::Tab], A::FocusNext, "focus the next pane", "Tab pane", Global),
        b(&[K::BackTab], A::FocusPrev, "focus the previous pane", "", Global),
        b(&[K::Up, K::Char('k')], A::Up, "move up", "", Global),
        b(&[K::Down, K::Char('j')], A::Down, "move down", "", Global),
        b(&[K::PageUp], A::PageUp, "page up", "", Global),
        b(&[K::PageDown], A::PageDown, "page down", "", Global),
        b(&[K::Char('g'), K::Home], A::Top, "jump to the top / oldest", "", Global),
        b(&[K::Char('G'), K::End], A::Bottom, "jump to the bottom / newest", "", Global),
        b(
            &[K::Enter],
            A::Open,
            "open the selected step's detail, or the selected row in full",
            "",
            Global,
        ),
        b(
            &[K::Char(' ')],
            A::ToggleTick,
            "tick or untick the selected item",
            "Space tick",
            Checklist,
        ),
        b(&[K::Char('a')], A::Approve, "approve the current gate", "a approve", Global),
        b(&[K::Char('r')], A::Revoke, "revoke your approval or no-go", "", Global),
        b(&[K::Char('d')], A::Decline, "say no-go at the current gate (asks why)", "", Global),
        b(&[K::Char('n')], A::Next, "start or finish the current step", "n next", Global),
        b(&[K::Char('s')], A::Shift, "shift traffic to the next weight", "s shift", Global),
        b(&[K::Char('p')], A::PauseResume, "pause (asks why) or resume", "p pause", Global),
        b(&[K::Char('R')], A::Rollback, "roll back (type the service name)", "R rollback", Global),
        b(&[K::Char('S')], A::Skip, "skip the current step (type the service name)", "", Global),
        b(
            &[K::Char('O')],
            A::OverrideBake,
            "pass a bake without evidence (type the name)",
            "",
            Global,
        ),
        b(&[K::Char('t')], A::Retry, "retry a failed or interrupted action", "t retry", Global),
        b(
            &[K::Char('m')],
            A::MarkSucceeded,
            "mark a failed/interrupted action succeeded",
            "m succeeded",
            Global,
        ),
        b(&[K::Char('f')], A::MarkFailed, "mark an interrupted action failed", "f failed", Global),
        b(&[K::Char('o')], A::Note, "add a note to the record", "", Global),
        b(
            &[K::Char('c')],
            A::ConfirmReview,
            "confirm the review that is due in a long bake",
            "c review",
            Global,
        ),
        b(&[K::Char('w')], A::Claim, "claim the selected step, or renew your claim", "", Global),
        b(&[K::Char('W')], A::Unclaim, "release your claim on the selected step", "", Global),
        b(
            &[K::Char('/')],
            A::Filter,
            "filter the focused pane as you type (Enter keeps, Esc clears)",
            "/ filter",
            Global,
        ),
        b(
            &[K::Char(':')],
            A::CommandLine,
            "type a command: note, pause, rollback, report… (Tab completes)",
            "",
            Global,
        ),
        b(
            &[K::Char('x')],
            A::Acknowledge,
            "acknowledge the banner of flightdeck's own decision",
            "x ack",
            Global,
        ),
        b(&[K::Char('h')], A::TrafficHistory, "show the traffic history", "", Global),
        b(&[K::Char('L')], A::Releases, "list every release, to open one read-only", "", Global),
        b(
            &[K::Char('v')],
            A::Replay,
            "replay: scrub through the release's history (v again: live)",
            "",
            Global,
        ),
        b(&[K::Left, K::Char('<')], A::ReplayBack, "in replay: one event back", "", Global),
        b(&[K::Right, K::Char('>')], A::ReplayForward, "in replay: one event forward", "", Global),
        b(
            &[K::Char('e')],
            A::ExportReport,
            "write the deployment report (markdown) to a file",
            "",
            Global,
        ),
        b(&[K::Char('D')], A::HandOver, "hand over driving (driver), or ask to drive", "", Global),
        b(&[K::Char('?')], A::Help, "show every key", "? help", Global),
        b(&[K::Ctrl('l')], A::Redraw, "redraw the screen", "", Global),
        b(
            &[K::Char('q'), K::Ctrl('c')],
            A::Quit,
            "leave the cockpit (the release keeps its state); Ctrl-C also cancels a dialog",
            "q quit",
            Global,
        ),
    ];
    for binding in &mut v {
        binding.destructive = matches!(binding.action, A::Rollback | A::Skip | A::OverrideBake);
    }
    v
}

/// The bindings in force and the warnings from applying overrides.
#[derive(Debug, Clone)]
pub struct Keymap {
    /// Every binding.
    pub bindings: Vec<Binding>,
    /// Problems with the overrides, shown in the status line.
    pub warnings: Vec<String>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self { bindings: default_bindings(), warnings: Vec::new() }
    }
}

impl Keymap {
    /// Applies `[keys]` overrides: action name → list of keys (replacing that action's keys).
    /// Each entry stands alone: a bad one (unknown action, unreadable key, Ctrl-C, a key
    /// another entry already took) is skipped with a warning naming it, and the others apply.
    /// A key given to an action is taken from the action that had it by default
    /// (`next = ["n", "enter"]` takes Enter from `open`); an action left with no key is named.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Self {
        let mut map = Self::default();
        let mut accepted: Vec<(usize, Vec<Key>)> = Vec::new();
        for (name, keys) in overrides {
            let Some(index) = map.bindings.iter().position(|b| b.action.name() == name) else {
                map.warnings.push(format!("[keys] unknown action `{name}` ignored"));
                continue;
            };
            let Some(parsed) = map.parse_entry(name, keys) else { continue };
            let context = map.bindings[index].context;
            let taken = accepted.iter().find(|(other, other_keys)| {
                overlaps(map.bindings[*other].context, context)
                    && other_keys.iter().any(|k| parsed.contains(k))
            });
            if let Some((other, _)) = taken {
                map.warnings.push(format!(
                    "[keys] {name}: key already given to `{}`; kept the default",
                    map.bindings[*other].action.name()
                ));
                continue;
            }
            accepted.push((index, parsed));
        }
        for (index, keys) in &accepted {
            let binding = &mut map.bindings[*index];
            binding.keys.clone_from(keys);
            // Ctrl-C leaves whatever `quit` is remapped to; the help says so.
            if binding.action == Action::Quit && !binding.keys.contains(&Key::Ctrl('c')) {
                binding.keys.push(Key::Ctrl('c'));
            }
        }
        // Defaults give up the keys an override took, in every context where they overlap.
        for (index, keys) in &accepted {
            let (context, taker) = (map.bindings[*index].context, map.bindings[*index].action);
            for i in 0..map.bindings.len() {
                let other = &mut map.bindings[i];
                if accepted.iter().any(|(a, _)| *a == i) || !overlaps(other.context, context) {
                    continue;
                }
                let lost: Vec<Key> =
                    other.keys.iter().copied().filter(|k| keys.contains(k)).collect();
                if lost.is_empty() {
                    continue;
                }
                other.keys.retain(|k| !keys.contains(k));
                if other.keys.is_empty() {
                    let lost: Vec<String> = lost.iter().map(ToString::to_string).collect();
                    let warning = format!(
                        "[keys] {} takes {} from `{}`, which is left with no key",
                        taker.name(),
                        lost.join(" "),
                        other.action.name()
                    );
                    map.warnings.push(warning);
                }
            }
        }
        map
    }

    /// The keys of one `[keys]` entry, or `None` (with a warning naming it) when it is unusable.
    fn parse_entry(&mut self, name: &str, keys: &[String]) -> Option<Vec<Key>> {
        if keys.is_empty() {
            self.warnings.push(format!("[keys] {name}: no key given; kept the default"));
            return None;
        }
        let mut parsed = Vec::new();
        for k in keys {
            match Key::parse(k) {
                // The way out is hard-wired: it works whatever the config says.
                Some(Key::Ctrl('c')) if name != Action::Quit.name() => {
                    self.warnings.push(format!(
                        "[keys] {name}: Ctrl-C always leaves the cockpit and cannot be remapped; kept the default"
                    ));
                    return None;
                }
                Some(key) if !parsed.contains(&key) => parsed.push(key),
                Some(_) => {}
                None => {
                    self.warnings
                        .push(format!("[keys] {name}: cannot read key `{k}`; kept the default"));
                    return None;
                }
            }
        }
        Some(parsed)
    }

    /// The action a key triggers in a context.
    pub fn lookup(
        &self,
        key: Key,
        checklist_focused: bool,
        timeline_focused: bool,
    ) -> Option<Action> {
        self.bindings
            .iter()
            .filter(|b| match b.context {
                Context::Global => true,
                Context::Checklist => checklist_focused,
                Context::Timeline => timeline_focused,
            })
            .find(|b| b.keys.contains(&key))
            .map(|b| b.action)
    }

    /// The first key of an action, for messages ("press R").
    pub fn key_for(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map_or_else(|| "?".into(), ToString::to_string)
    }
}

/// Whether bindings in these two contexts can see the same key press.
fn overlaps(a: Context, b: Context) -> bool {
    a == b || a == Context::Global || b == Context::Global
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_bindings_share_a_key_in_one_context() {
        let map = Keymap::default();
        for (i, a) in map.bindings.iter().enumerate() {
            for other in &map.bindings[i + 1..] {
                let overlap = a.context == other.context
                    || a.context == Context::Global
                    || other.context == Context::Global;
                if overlap {
                    for k in &a.keys {
                        assert!(
                            !other.keys.contains(k),
                            "{k} bound to {:?} and {:?}",
                            a.action,
                            other.action
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_binding_has_a_description_and_destructive_ones_are_marked() {
        for binding in default_bindings() {
            assert!(!binding.desc.is_empty());
            assert!(!binding.keys.is_empty());
        }
        let map = Keymap::default();
        assert!(map.bindings.iter().any(|b| b.action == Action::Rollback && b.destructive));
    }

    #[test]
    fn overrides_apply_and_bad_ones_warn() {
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["A".to_owned()]);
        o.insert("launch".to_owned(), vec!["x".to_owned()]);
        o.insert("next".to_owned(), vec!["ctrl-".to_owned()]);
        o.insert("shift".to_owned(), vec!["alt-s".to_owned()]);
        let map = Keymap::with_overrides(&o);
        assert_eq!(map.lookup(Key::Char('A'), false, false), Some(Action::Approve));
        assert_eq!(map.lookup(Key::Char('a'), false, false), None);
        assert_eq!(map.lookup(Key::Char('n'), false, false), Some(Action::Next));
        assert_eq!(map.lookup(Key::Char('s'), false, false), Some(Action::Shift));
        assert_eq!(map.warnings.len(), 3, "{:?}", map.warnings);
        for name in ["launch", "next", "shift"] {
            assert!(map.warnings.iter().any(|w| w.contains(name)), "{name}: {:?}", map.warnings);
        }
    }

    #[test]
    fn the_readme_remap_example_works() {
        // README: `approve = ["A"]`, `next = ["n", "enter"]`.
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["A".to_owned()]);
        o.insert("next".to_owned(), vec!["n".to_owned(), "enter".to_owned()]);
        let map = Keymap::with_overrides(&o);
        assert_eq!(map.lookup(Key::Char('A'), false, false), Some(Action::Approve));
        assert_eq!(map.lookup(Key::Char('n'), false, false), Some(Action::Next));
        assert_eq!(map.lookup(Key::Enter, false, false), Some(Action::Next));
        assert_eq!(map.lookup(Key::Enter, true, true), Some(Action::Next));
        // Enter was `open`'s only key: the person is told, nothing else is refused.
        assert_eq!(map.warnings.len(), 1, "{:?}", map.warnings);
        assert!(map.warnings[0].contains("`open`"), "{:?}", map.warnings);
        assert!(map.bindings.iter().any(|b| b.action == Action::Open && b.keys.is_empty()));
    }

    #[test]
    fn an_override_takes_a_key_from_a_default_that_keeps_its_others() {
        let mut o = BTreeMap::new();
        o.insert("shift".to_owned(), vec!["q".to_owned()]);
        let map = Keymap::with_overrides(&o);
        assert_eq!(map.lookup(Key::Char('q'), false, false), Some(Action::Shift));
        assert_eq!(map.lookup(Key::Char('s'), false, false), None);
        assert_eq!(map.lookup(Key::Ctrl('c'), false, false), Some(Action::Quit));
        assert!(map.warnings.is_empty(), "{:?}", map.warnings);
    }

    #[test]
    fn one_bad_entry_discards_only_itself() {
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["A".to_owned()]);
        o.insert("decline".to_owned(), vec!["A".to_owned()]);
        o.insert("note".to_owned(), vec!["ctrl-c".to_owned()]);
        o.insert("pause".to_owned(), vec![]);
        o.insert("rollback".to_owned(), vec!["X".to_owned(), "nope".to_owned()]);
        o.insert("skip".to_owned(), vec!["K".to_owned()]);
        let map = Keymap::with_overrides(&o);
        assert_eq!(map.lookup(Key::Char('A'), false, false), Some(Action::Approve));
        assert_eq!(map.lookup(Key::Char('K'), false, false), Some(Action::Skip));
        // Each bad entry keeps its default.
        assert_eq!(map.lookup(Key::Char('d'), false, false), Some(Action::Decline));
        assert_eq!(map.lookup(Key::Char('o'), false, false), Some(Action::Note));
        assert_eq!(map.lookup(Key::Char('p'), false, false), Some(Action::PauseResume));
        assert_eq!(map.lookup(Key::Char('R'), false, false), Some(Action::Rollback));
        assert_eq!(map.lookup(Key::Char('X'), false, false), None);
        assert_eq!(map.lookup(Key::Ctrl('c'), false, false), Some(Action::Quit));
        assert_eq!(map.warnings.len(), 4, "{:?}", map.warnings);
        for name in ["decline", "note", "pause", "rollback"] {
            assert!(map.warnings.iter().any(|w| w.contains(name)), "{name}: {:?}", map.warnings);
        }
    }

    #[test]
    fn quit_remapped_still_lists_ctrl_c() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_owned(), vec!["Q".to_owned()]);
        let map = Keymap::with_overrides(&o);
        assert_eq!(map.lookup(Key::Char('Q'), false, false), Some(Action::Quit));
        assert_eq!(map.lookup(Key::Ctrl('c'), false, false), Some(Action::Quit));
        assert_eq!(map.lookup(Key::Char('q'), false, false), None);
    }

    #[test]
    fn parses_config_keys() {
        assert_eq!(Key::parse("space"), Some(Key::Char(' ')));
        assert_eq!(Key::parse("ctrl-l"), Some(Key::Ctrl('l')));
        assert_eq!(Key::parse("R"), Some(Key::Char('R')));
        assert_eq!(Key::parse("alt-x"), None);
    }
}
