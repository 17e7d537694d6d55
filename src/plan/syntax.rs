//! Checks of the text a plan hands to other systems, made when the plan is checked rather
//! than in the middle of a bake: URLs (http and https only) and Prometheus queries (brackets
//! balanced, strings closed, label matchers and their regexes valid). Pure: no network.

use super::selector::Selector;

/// Checks an http(s) URL; `${env:NAME}` secrets and `{placeholders}` count as filled in.
pub fn check_url(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.starts_with("${env:") && !text.contains("://") {
        // The whole URL is a secret: it is checked when it is resolved.
        return Ok(());
    }
    let filled = stand_ins(text);
    let Some((scheme, rest)) = filled.split_once("://") else {
        return Err(format!("`{}` is not a URL: write http://HOST/PATH", super::shorten(text, 80)));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("`{}://` is not http or https", super::shorten(scheme, 80)));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => return Err("an IPv6 host must end with `]`".into()),
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(format!("`{}` has no host", super::shorten(text, 80)));
    }
    if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')) {
        return Err(format!("`{}` is not a host name", super::shorten(host, 80)));
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("`{}` is not a port (1 to 65535)", super::shorten(port, 80)));
        }
    }
    Ok(())
}

/// `text` with each `${env:NAME}` and `{name}` replaced by a word, as if filled in.
fn stand_ins(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push('x');
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    super::template::fill(&out, |_| Some("x".into()))
}

/// PromQL words that may follow another word.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
];

/// Checks what can be checked of a PromQL expression without a Prometheus: it is not empty,
/// its brackets pair up, its strings are closed, every `{...}` holds valid label matchers
/// (regexes compiled) and two names never stand side by side without an operator.
pub fn check_query(query: &str) -> Result<(), String> {
    let q = query.trim();
    if q.is_empty() {
        return Err("the query is empty".into());
    }
    let bytes = q.as_bytes();
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut previous_word: Option<&str> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                let end = string_end(q, i).ok_or_else(|| {
                    format!("the string starting at character {} is not closed", i + 1)
                })?;
                i = end + 1;
                previous_word = None;
                continue;
            }
            b'{' => {
                let close = brace_end(q, i).ok_or_else(|| "a `{` is not closed".to_owned())?;
                let inner = &q[i..=close];
                // The metric name, if any, was the previous word; `{}` alone selects nothing.
                match previous_word {
                    Some(name) => Selector::parse(&format!("{name}{inner}")).map(drop),
                    None => Selector::parse(inner).map(drop),
                }?;
                i = close + 1;
                previous_word = None;
                continue;
            }
            b'(' | b'[' => open.push((b, i)),
            b')' | b']' | b'}' => {
                let want = if b == b')' {
                    b'('
                } else if b == b']' {
                    b'['
                } else {
                    b'{'
                };
                match open.pop() {
                    Some((o, _)) if o == want => {}
                    _ => {
                        return Err(format!(
                            "`{}` at character {} closes nothing",
                            b as char,
                            i + 1
                        ));
                    }
                }
            }
            _ => {}
        }
        if b.is_ascii_alphabetic() || b == b'_' || b == b':' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
            {
                i += 1;
            }
            let word = &q[start..i];
            if let Some(before) = previous_word {
                let keyword = |w: &str| KEYWORDS.contains(&w.to_ascii_lowercase().as_str());
                if !keyword(before) && !keyword(word) {
                    return Err(format!(
                        "`{before} {word}`: two names side by side need an operator or a comma"
                    ));
                }
            }
            previous_word = Some(word);
            continue;
        }
        if !b.is_ascii_whitespace() {
            previous_word = None;
        }
        i += 1;
    }
    if let Some((o, at)) = open.pop() {
        return Err(format!("the `{}` at character {} is not closed", o as char, at + 1));
    }
    Ok(())
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(q: &str, start: usize) -> Option<usize> {
    let bytes = q.as_bytes();
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The index of the `}` closing the `{` at `start`, strings skipped.
fn brace_end(q: &str, start: usize) -> Option<usize> {
    let bytes = q.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => i = string_end(q, i)? + 1,
            b'}' => return Some(i),
            b'{' => return None,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for good in [
            "http://127.0.0.1:9090",
            "https://prom.internal/api",
            "https://hooks.slack.com/services/${env:HOOK}",
            "http://lb.internal/{environment}/weight?w={weight}",
            "http://[::1]:8080/health",
            "${env:HEALTH_URL}",
            "${env:HOST}/health",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        assert!(check_url("not a url").unwrap_err().contains("is not a URL"));
        assert!(check_url("http://").unwrap_err().contains("has no host"));
        assert!(check_url("ftp://x").unwrap_err().contains("not http or https"));
        assert!(check_url("http://a b/").unwrap_err().contains("not a host name"));
        assert!(check_url("http://host:99999/").unwrap_err().contains("not a port"));
        assert!(check_url("").is_err());
    }

    #[test]
    fn queries_that_parse() {
        for good in [
            "up",
            r#"sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))"#,
            r#"histogram_quantile(0.99, sum by (le, version) (rate(x_bucket{job="api"}[5m])))"#,
            "sum(rate(a[1m])) or vector(0)",
            "a > bool 3",
            r#"{__name__="up"}"#,
            "rate(a[5m] offset 1h)",
        ] {
            assert_eq!(check_query(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn queries_that_do_not() {
        assert!(check_query(r#"x{code=~"("}"#).unwrap_err().contains("is not a regex"));
        assert!(check_query(r#"x{code="5"#).is_err());
        assert!(check_query("sum(rate(x[5m])").unwrap_err().contains("not closed"));
        assert!(check_query("x{code").unwrap_err().contains("not closed"));
        assert!(check_query("a b c").unwrap_err().contains("side by side"));
        assert!(check_query("").unwrap_err().contains("empty"));
        assert!(check_query("   ").is_err());
        assert!(check_query("x)").unwrap_err().contains("closes nothing"));
        assert!(check_query("{}").unwrap_err().contains("empty selector"));
        assert_eq!(check_query("x{}"), Ok(()));
    }
}
