//! The `:` command line: the CLI's verbs typed in the cockpit (`:note text`, `:pause reason`,
//! `:rollback reason`, `:report`). Each verb is a key's action, so a typed command goes through
//! the same refusals and the same dialogs (typed confirmations) as the key. Pure.

use super::keymap::Action;

/// One verb of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    /// What is typed.
    pub name: &'static str,
    /// The key's action it stands for.
    pub action: Action,
    /// What the text after the verb is (`None`: the verb takes none).
    pub text: Option<&'static str>,
}

const fn verb(name: &'static str, action: Action, text: Option<&'static str>) -> Verb {
    Verb { name, action, text }
}

/// Every verb, in the order completion offers them. The names are the CLI's where the CLI
/// has the verb (`confirm-review`, `handover`), else the key's name in `[keys]`.
pub const VERBS: &[Verb] = &[
    verb("note", Action::Note, Some("the note")),
    verb("pause", Action::PauseResume, Some("why")),
    verb("resume", Action::PauseResume, None),
    verb("rollback", Action::Rollback, Some("why")),
    verb("next", Action::Next, None),
    verb("shift", Action::Shift, None),
    verb("approve", Action::Approve, None),
    verb("revoke", Action::Revoke, None),
    verb("decline", Action::Decline, Some("why")),
    verb("skip", Action::Skip, Some("why")),
    verb("override", Action::OverrideBake, Some("why")),
    verb("retry", Action::Retry, None),
    verb("succeeded", Action::MarkSucceeded, Some("what you checked")),
    verb("failed", Action::MarkFailed, Some("why")),
    verb("confirm-review", Action::ConfirmReview, None),
    verb("tick", Action::ToggleTick, None),
    verb("claim", Action::Claim, None),
    verb("unclaim", Action::Unclaim, None),
    verb("report", Action::ExportReport, None),
    verb("handover", Action::HandOver, None),
    verb("ack", Action::Acknowledge, None),
    verb("filter", Action::Filter, Some("the text")),
    verb("replay", Action::Replay, None),
    verb("releases", Action::Releases, None),
    verb("traffic", Action::TrafficHistory, None),
    verb("help", Action::Help, None),
    verb("quit", Action::Quit, None),
];

/// A typed command, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The verb.
    pub verb: Verb,
    /// The text after it, trimmed (empty when none was typed).
    pub text: String,
}

/// Reads a typed command, or says clearly why it cannot: an unknown verb names the known
/// ones; a verb that takes no text says so.
pub fn parse(line: &str) -> Result<Parsed, String> {
    let line = line.trim().trim_start_matches(':').trim_start();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    if word.is_empty() {
        return Err("type a command after `:` (Tab lists them); Esc closes".into());
    }
    let lower = word.to_lowercase();
    let Some(verb) = VERBS.iter().find(|v| v.name == lower).copied() else {
        let close = completions(&lower);
        let hint = if close.is_empty() {
            format!("known: {}", names().join(" "))
        } else {
            format!("did you mean {}?", close.join(" or "))
        };
        return Err(format!("unknown command `{word}`; {hint}"));
    };
    let text = rest.trim().to_owned();
    if verb.text.is_none() && !text.is_empty() {
        return Err(format!("`{}` takes nothing after it (found `{text}`)", verb.name));
    }
    Ok(Parsed { verb, text })
}

/// The verbs starting with `prefix`.
pub fn completions(prefix: &str) -> Vec<&'static str> {
    let prefix = prefix.to_lowercase();
    VERBS.iter().map(|v| v.name).filter(|n| n.starts_with(&prefix)).collect()
}

/// Tab on the command line: completes the verb being typed to its longest unambiguous
/// prefix (with a space after a unique match). Returns the new text and, when several verbs
/// remain, their names.
pub fn complete(line: &str) -> (String, Vec<&'static str>) {
    if line.contains(char::is_whitespace) {
        return (line.to_owned(), Vec::new());
    }
    let found = completions(line);
    match found.as_slice() {
        [] => (line.to_owned(), Vec::new()),
        [one] => (format!("{one} "), Vec::new()),
        many => {
            let first = many[0];
            let common = (0..=first.len())
                .rev()
                .find(|&n| {
                    first.is_char_boundary(n) && many.iter().all(|m| m.starts_with(&first[..n]))
                })
                .map_or("", |n| &first[..n]);
            let text = if common.len() > line.len() { common.to_owned() } else { line.to_owned() };
            (text, many.to_vec())
        }
    }
}

/// Every verb's name.
pub fn names() -> Vec<&'static str> {
    VERBS.iter().map(|v| v.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_verb_and_its_text() {
        let p = parse(":note  db failover done ").expect("parsed");
        assert_eq!((p.verb.name, p.text.as_str()), ("note", "db failover done"));
        assert_eq!(parse("report").expect("parsed").verb.action, Action::ExportReport);
        assert_eq!(parse("PAUSE why").expect("parsed").verb.action, Action::PauseResume);
    }

    #[test]
    fn an_unknown_verb_or_stray_text_is_a_clear_error() {
        let e = parse("launch now").expect_err("unknown");
        assert!(e.contains("unknown command `launch`") && e.contains("rollback"), "{e}");
        let e = parse("re").expect_err("ambiguous is unknown");
        assert!(e.contains("resume") && e.contains("report"), "{e}");
        let e = parse("report now").expect_err("report takes no text");
        assert!(e.contains("takes nothing"), "{e}");
        assert!(parse("").is_err());
    }

    #[test]
    fn tab_completes_to_the_longest_unambiguous_prefix() {
        assert_eq!(complete("rol"), ("rollback ".to_owned(), vec![]));
        let (text, many) = complete("re");
        assert_eq!(text, "re");
        assert!(many.contains(&"resume") && many.contains(&"report"), "{many:?}");
        let (text, many) = complete("rele");
        assert_eq!((text.as_str(), many.len()), ("releases ", 0));
        assert_eq!(complete("su").0, "succeeded ");
        assert_eq!(complete("note some").0, "note some");
    }
}
