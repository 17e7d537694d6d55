//! Messages about plan text: what a TOML or serde error says, in plain words and about the
//! field (a dotted path with array indexes) rather than the value, and values cut so that a
//! huge one never fills a message.

use std::collections::BTreeMap;

use super::shorten;

/// Cuts every `quoted` or "quoted" value longer than 80 characters in a message.
pub(super) fn cut_values(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = &rest[open..=open];
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        match after.find(quote) {
            Some(close) => {
                out.push_str(&shorten(&after[..close], 80));
                out.push_str(quote);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&shorten(after, 80));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    shorten(&out, 400)
}

/// A TOML or serde message in plain words: `expected a whole number`, not `expected i64`.
pub(super) fn plain_types(message: &str) -> String {
    use std::sync::OnceLock;
    static RULES: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (
                r"invalid type: integer `(-?[0-9]+)` as [iu]128, expected [a-z0-9 ]+",
                "`$1` is too large a number",
            ),
            (r"\b[iu](8|16|32|64|128|size)\b", "a whole number"),
            (r"\bf(32|64)\b", "a number"),
            (r"\bstruct \w+", "a table"),
            (r"\bunit struct \w+", "a table"),
            (r"\ba sequence\b", "a list"),
            (r"\ba map\b", "a table"),
            (r"\binteger\b", "whole number"),
            (r"\bfloating point\b", "number"),
        ]
        .into_iter()
        .filter_map(|(pattern, words)| regex::Regex::new(pattern).ok().map(|r| (r, words)))
        .collect()
    });
    let mut out = message.to_owned();
    for (pattern, words) in rules {
        out = pattern.replace_all(&out, *words).into_owned();
    }
    out
}

/// The last table header in `text` as a field path, arrays of tables indexed:
/// `[[stages.steps]]` under the third `[[stages]]` is `stages[2].steps[0]`.
fn indexed_header(text: &str) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut last = None;
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix('[') else { continue };
        let array = rest.starts_with('[');
        let name = rest.trim_start_matches('[').split(']').next().unwrap_or_default().trim();
        if array {
            *counts.entry(name.to_owned()).or_default() += 1;
            let nested = format!("{name}.");
            counts.retain(|k, _| !k.starts_with(&nested));
        }
        last = Some(name.to_owned());
    }
    let name = last?;
    let mut path = Vec::new();
    let mut prefix = String::new();
    for part in name.split('.') {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(part);
        match counts.get(&prefix) {
            Some(n) => path.push(format!("{part}[{}]", n.saturating_sub(1))),
            None => path.push(part.to_owned()),
        }
    }
    Some(path.join("."))
}

/// The field at `offset` of a plan that did not parse, as a dotted path from its table
/// header and the keys before it on its line (`stages[0].steps[1].approvals`); never its
/// value.
pub(super) fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let header = indexed_header(&text[..line_end]);
    // Keys open at the offset: `a = { b = { c = 1` gives a, b, c.
    let before = &text[line_start..offset];
    let at_key = text[offset..line_end]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .next()
        .filter(|k| {
            !k.is_empty() && text[offset + k.len()..line_end].trim_start().starts_with('=')
        });
    let mut keys: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    let mut word = String::new();
    let mut in_string: Option<char> = None;
    for ch in before.chars() {
        if let Some(q) = in_string {
            if ch == q {
                in_string = None;
            }
            continue;
        }
        match ch {
            '"' | '\'' => {
                in_string = Some(ch);
                word.clear();
            }
            '=' => {
                pending = Some(std::mem::take(&mut word));
            }
            '{' => {
                if let Some(k) = pending.take() {
                    keys.push(k);
                }
            }
            '}' => {
                keys.pop();
            }
            ',' => {
                pending = None;
                word.clear();
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => word.push(c),
            c if c.is_whitespace() => {
                if !word.is_empty() && pending.is_none() {
                    // A key followed by spaces before `=`: keep it.
                } else {
                    word.clear();
                }
            }
            _ => word.clear(),
        }
    }
    if let Some(k) = at_key {
        keys.push(k.to_owned());
    } else if let Some(k) = pending {
        keys.push(k);
    }
    let path: Vec<String> = header.into_iter().chain(keys).filter(|k| !k.is_empty()).collect();
    if path.is_empty() { "(syntax)".to_owned() } else { path.join(".") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_a_path_with_indexes() {
        let text = "[service]\nname = 1\n[[stages]]\nid = \"a\"\n[[stages]]\nid = \"b\"\n[[stages.steps]]\nx = { y = { z = 3 } }\n";
        assert_eq!(field_at(text, text.find("name").unwrap()), "service.name");
        assert_eq!(field_at(text, text.find("3 }").unwrap()), "stages[1].steps[0].x.y.z");
        assert_eq!(field_at("a b c", 2), "(syntax)");
    }

    #[test]
    fn types_in_plain_words_and_values_cut() {
        assert_eq!(
            plain_types("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected a whole number"
        );
        assert_eq!(plain_types("expected a sequence"), "expected a list");
        let long = format!("`{}` is not a step kind", "y".repeat(500));
        let cut = cut_values(&long);
        assert!(cut.chars().count() < 120, "{cut}");
        assert!(cut.ends_with("…` is not a step kind"), "{cut}");
    }
}
