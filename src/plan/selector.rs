//! Series selectors as written in plans, PromQL style: `name`, `name{label="v"}`,
//! `{color="green"}`, with `=`, `!=`, `=~` and `!~` (regexes fully anchored, as in
//! Prometheus). Pure: parsing and matching only.

use std::fmt;

use regex::Regex;

/// How a label is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Matches,
    /// `!~`
    NotMatches,
}

/// One `label op "value"` condition.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub label: String,
    /// Comparison.
    pub op: Op,
    /// The value as written.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Whether a sample whose label has `value` (empty when absent, as in Prometheus) passes.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            Op::Equal => value == self.value,
            Op::NotEqual => value != self.value,
            Op::Matches => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            Op::NotMatches => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// A metric name (optional) and label matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    /// Metric name; `None` for `{...}` alone.
    pub name: Option<String>,
    /// Label conditions, all of which must hold.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses `name{label="value", other=~"re.*"}`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) => (text[..i].trim(), Some(&text[i..])),
            None => (text, None),
        };
        if !name.is_empty()
            && !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("`{text}`: `{name}` is not a metric name"));
        }
        let mut matchers = Vec::new();
        if let Some(rest) = rest {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.trim_end().strip_suffix('}'))
                .ok_or_else(|| format!("`{text}`: labels must end with `}}`"))?;
            matchers = parse_matchers(inner).map_err(|e| format!("`{text}`: {e}"))?;
        }
        if name.is_empty() && matchers.is_empty() {
            return Err("an empty selector matches nothing; write a metric name".into());
        }
        Ok(Self { name: (!name.is_empty()).then(|| name.to_owned()), matchers })
    }

    /// Whether a sample named `name` with these labels is selected. `label` looks a label up.
    pub fn matches<'a>(&self, name: &str, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        if self.name.as_deref().is_some_and(|n| n != name) {
            return false;
        }
        self.matchers.iter().all(|m| m.matches(label(&m.label).unwrap_or("")))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_deref().unwrap_or(""))?;
        if !self.matchers.is_empty() {
            let parts: Vec<String> = self
                .matchers
                .iter()
                .map(|m| {
                    let op = match m.op {
                        Op::Equal => "=",
                        Op::NotEqual => "!=",
                        Op::Matches => "=~",
                        Op::NotMatches => "!~",
                    };
                    format!("{}{op}{:?}", m.label, m.value)
                })
                .collect();
            write!(f, "{{{}}}", parts.join(","))?;
        }
        Ok(())
    }
}

fn parse_matchers(inner: &str) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    let mut chars = inner.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else { break };
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                end = i + c.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let label = &inner[start..end];
        if label.is_empty() {
            return Err("expected a label name".into());
        }
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let op = match (chars.next().map(|(_, c)| c), chars.peek().map(|(_, c)| *c)) {
            (Some('='), Some('~')) => {
                chars.next();
                Op::Matches
            }
            (Some('='), _) => Op::Equal,
            (Some('!'), Some('=')) => {
                chars.next();
                Op::NotEqual
            }
            (Some('!'), Some('~')) => {
                chars.next();
                Op::NotMatches
            }
            _ => return Err(format!("label `{label}` needs =, !=, =~ or !~")),
        };
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let quote = match chars.next() {
            Some((_, q @ ('"' | '\''))) => q,
            _ => return Err(format!("the value of `{label}` must be quoted")),
        };
        let mut value = String::new();
        let mut closed = false;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(match e {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                c if c == quote => {
                    closed = true;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return Err(format!("the value of `{label}` is not closed"));
        }
        let regex = match op {
            Op::Matches | Op::NotMatches => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    // The regex crate draws the pattern over several lines; its last
                    // line says what is wrong, which is what fits a one-line message.
                    let why = e.to_string();
                    let why = why
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .to_owned();
                    format!("`{value}` is not a regex: {why}")
                })?)
            }
            _ => None,
        };
        out.push(Matcher { label: label.to_owned(), op, value, regex });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }

    #[test]
    fn parses_and_matches() {
        let s = Selector::parse(r#"http_requests_total{code=~"5..", color!="blue"}"#).unwrap();
        assert!(s.matches("http_requests_total", labels(&[("code", "503"), ("color", "green")])));
        assert!(!s.matches("http_requests_total", labels(&[("code", "200")])));
        assert!(!s.matches("http_requests_total", labels(&[("code", "5000")])), "anchored");
        assert!(!s.matches("other", labels(&[("code", "500")])));
        assert!(!s.matches("http_requests_total", labels(&[("code", "500"), ("color", "blue")])));
        let any = Selector::parse(r#"{color="green"}"#).unwrap();
        assert!(any.matches("whatever", labels(&[("color", "green")])));
        let not = Selector::parse(r#"x{code!~"2.."}"#).unwrap();
        assert!(not.matches("x", labels(&[("code", "500")])));
        assert!(!not.matches("x", labels(&[("code", "200")])));
        assert_eq!(Selector::parse("x").unwrap().to_string(), "x");
    }

    #[test]
    fn rejects_nonsense() {
        assert!(Selector::parse("").is_err());
        assert!(Selector::parse("x{code=500}").is_err());
        assert!(Selector::parse(r#"x{code="500""#).is_err());
        assert!(Selector::parse(r#"x{code=~"("}"#).is_err());
        assert!(Selector::parse("a b").is_err());
    }
}
