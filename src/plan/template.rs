//! The template syntax of action arguments, URLs and bodies: `{name}` is a placeholder,
//! `{{` and `}}` are literal braces (curl's `-w '%{{http_code}}'`), `${env:NAME}` is a
//! secret left for the action to resolve. Shared by the plan check and the action runner so
//! both read a text the same way.

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text kept as it is (escaped braces already halved).
    Literal(std::borrow::Cow<'a, str>),
    /// `{name}`: a placeholder's name.
    Placeholder(&'a str),
}

fn is_name(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !text.is_empty() && text.chars().all(word) {
        return true;
    }
    // Step ids may hold `-`, and `.` separates the parts of an output's name; only names
    // starting `outputs.` take them (`{1..3}` is shell, not a placeholder).
    text.strip_prefix(super::outputs::PREFIX).is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| word(c) || c == '-' || c == '.')
    })
}

/// Splits `text` into literal text and placeholders.
pub fn parts<'a>(text: &'a str) -> Vec<Part<'a>> {
    let mut out = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    let push_literal = |out: &mut Vec<Part<'a>>, from: usize, to: usize| {
        if from < to {
            out.push(Part::Literal(text[from..to].into()));
        }
    };
    while i < bytes.len() {
        let doubled = bytes.get(i + 1) == Some(&bytes[i]);
        match bytes[i] {
            b'{' | b'}' if doubled => {
                push_literal(&mut out, literal_start, i);
                out.push(Part::Literal(text[i..=i].into()));
                i += 2;
                literal_start = i;
            }
            b'{' if i == 0 || bytes[i - 1] != b'$' => {
                let name = text[i + 1..].find('}').map(|end| &text[i + 1..i + 1 + end]);
                match name.filter(|n| is_name(n)) {
                    Some(name) => {
                        push_literal(&mut out, literal_start, i);
                        out.push(Part::Placeholder(name));
                        i += name.len() + 2;
                        literal_start = i;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    push_literal(&mut out, literal_start, bytes.len());
    out
}

/// Names of every `{placeholder}` in `text` (escaped braces and `${env:NAME}` are not).
pub fn placeholders(text: &str) -> Vec<String> {
    parts(text)
        .into_iter()
        .filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.to_owned()),
            Part::Literal(_) => None,
        })
        .collect()
}

/// Fills `text`: each placeholder `value` knows is replaced, an unknown one is kept as
/// written, and `{{`/`}}` become single braces.
pub fn fill(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    for part in parts(text) {
        match part {
            Part::Literal(t) => out.push_str(&t),
            Part::Placeholder(name) => match value(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str) -> Option<String> {
        (name == "version").then(|| "1.4.0".to_owned())
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            fill("curl -w '%{{http_code}}' {version}", version),
            "curl -w '%{http_code}' 1.4.0"
        );
        assert!(placeholders("%{{http_code}}").is_empty());
        assert_eq!(fill("{{{version}}}", version), "{1.4.0}");
        assert_eq!(placeholders("{{{version}}}"), ["version"]);
        assert_eq!(fill("{{version}}", version), "{version}");
    }

    #[test]
    fn secrets_and_json_are_left_alone() {
        assert_eq!(fill("Bearer ${env:TOKEN}", version), "Bearer ${env:TOKEN}");
        assert!(placeholders("${env:TOKEN}").is_empty());
        assert!(placeholders(r#"{"a": 1}"#).is_empty());
        assert_eq!(fill("{unknown} {version}", version), "{unknown} 1.4.0");
        assert_eq!(placeholders("{unknown} {version}"), ["unknown", "version"]);
    }
}
