//! Filling `{placeholders}` and resolving `${env:NAME}` secrets at the moment an action runs.
//! Secrets never leave this module except inside the request or process that needs them;
//! everything shown or stored uses the redacted form, which also hides the encoded forms of
//! a secret (percent-encoded, JSON-escaped, base64) that a server may echo back.

use std::collections::BTreeMap;

/// Values for the placeholders of one run.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    /// Sets a placeholder's value.
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.to_owned(), value.into());
        self
    }

    /// Sets the value of a placeholder whose name is data (`outputs.STEP.NAME`).
    pub fn set_owned(&mut self, name: String, value: String) -> &mut Self {
        self.values.insert(name, value);
        self
    }

    /// Fills every known `{name}` and turns `{{`/`}}` into single braces; unknown names
    /// were rejected when the plan was checked.
    pub fn fill(&self, text: &str) -> String {
        crate::plan::template::fill(text, |name| self.values.get(name).cloned())
    }
}

/// `{date}`: the UTC day of `at`, `YYYY-MM-DD`.
pub fn date(at: crate::release::Timestamp) -> String {
    crate::release::format_date_time(at)[..10].to_owned()
}

/// `{timestamp}`: `at` in UTC as ISO 8601 basic format, `YYYYMMDDTHHMMSSZ`, safe in a file
/// name (no `:`), sorting in time order.
pub fn timestamp(at: crate::release::Timestamp) -> String {
    let text = crate::release::format_date_time(at).replace(['-', ':'], "").replace(' ', "T");
    format!("{text}Z")
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

/// Replaces every secret value in `text` with `***`: the value itself, and the forms a
/// server or tool echoing it back is likely to use: percent-encoded (`%20` or `+` for a
/// space, hex in either case, whichever characters the encoder chose to leave alone),
/// JSON-escaped (`\"`, `\\`, `\/`, `\n`, `\u00e9`, `\u0026`, surrogate pairs), any mix of
/// those, and base64 (standard or URL-safe alphabet, on its own or inside a longer encoded
/// text such as `Basic dXNlcjpwYXNz`). Secrets shorter than 3 bytes are left alone: they
/// would redact ordinary words.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut ordered: Vec<&String> = secrets.iter().filter(|s| s.len() >= 3).collect();
    // A secret inside another must not break the longer one's match.
    ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    ordered.dedup();
    let mut out = text.to_owned();
    for secret in ordered {
        out = match redactor_for(secret) {
            Some(pattern) => pattern.replace_all(&out, "***").into_owned(),
            None => literal_forms(secret).iter().fold(out, |t, form| t.replace(form, "***")),
        };
    }
    out
}

/// How many secrets' patterns are kept compiled; a process resolves only a handful.
const REDACTORS_KEPT: usize = 64;

/// The compiled pattern matching every encoded form of `secret`, compiled once per secret.
/// `None` when it cannot be compiled (a very long secret): the literal forms are used then.
fn redactor_for(secret: &str) -> Option<std::sync::Arc<regex::Regex>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<Arc<regex::Regex>>>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = cache.get(secret) {
        return found.clone();
    }
    if cache.len() >= REDACTORS_KEPT {
        cache.clear();
    }
    let compiled = regex::RegexBuilder::new(&encoded_pattern(secret))
        .size_limit(32 << 20)
        .build()
        .ok()
        .map(Arc::new);
    cache.insert(secret.to_owned(), compiled.clone());
    compiled
}

/// A regex matching `secret` with each character written as itself, percent-encoded or
/// JSON-escaped, or one of its base64 forms.
fn encoded_pattern(secret: &str) -> String {
    let per_char: String = secret.chars().map(char_forms).collect();
    let mut alternatives = vec![per_char];
    alternatives.extend(base64_forms(secret.as_bytes()).iter().map(|f| regex::escape(f)));
    alternatives.join("|")
}

/// The ways one character of a secret may be written: itself, percent-encoded (any hex case,
/// `+` for a space), JSON-escaped.
fn char_forms(c: char) -> String {
    let mut forms = vec![regex::escape(c.encode_utf8(&mut [0; 4]))];
    let mut utf8 = [0u8; 4];
    let percent: String = c.encode_utf8(&mut utf8).bytes().map(|b| format!("%{b:02X}")).collect();
    forms.push(format!("(?i:{percent})"));
    if c == ' ' {
        forms.push(r"\+".into());
    }
    let mut units = [0u16; 2];
    let escaped: String =
        c.encode_utf16(&mut units).iter().map(|u| format!(r"\\u{u:04X}")).collect();
    forms.push(format!("(?i:{escaped})"));
    let short = match c {
        '"' => Some(r#"\\""#),
        '\\' => Some(r"\\\\"),
        '/' => Some(r"\\/"),
        '\n' => Some(r"\\n"),
        '\r' => Some(r"\\r"),
        '\t' => Some(r"\\t"),
        '\u{8}' => Some(r"\\b"),
        '\u{c}' => Some(r"\\f"),
        _ => None,
    };
    forms.extend(short.map(str::to_owned));
    format!("(?:{})", forms.join("|"))
}

/// The forms replaced literally when no pattern could be compiled.
fn literal_forms(secret: &str) -> Vec<String> {
    let percent = |plus: bool| -> String {
        secret
            .bytes()
            .map(|b| match b {
                b' ' if plus => "+".to_owned(),
                b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.get(1..json.len().saturating_sub(1)).unwrap_or_default().to_owned();
    let mut forms = vec![secret.to_owned(), percent(false), percent(true), json];
    forms.extend(base64_forms(secret.as_bytes()));
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms.retain(|f| f.len() >= 3);
    forms
}

/// Fewest base64 characters a form must have to be redacted: shorter runs would match
/// ordinary encoded data by chance.
const BASE64_MIN_CHARS: usize = 8;

/// The base64 text that encodes `secret` wherever it starts in a longer encoded text (at a
/// byte offset of 0, 1 or 2 modulo 3), in the standard and URL-safe alphabets: only the
/// characters every bit of which comes from the secret.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut data = vec![0u8; offset];
        data.extend_from_slice(secret);
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + secret.len())) / 6;
        for alphabet in [STANDARD, URL_SAFE] {
            let encoded = base64_unpadded(&data, alphabet);
            if let Some(core) = encoded.get(first..end).filter(|c| c.len() >= BASE64_MIN_CHARS) {
                forms.push(core.to_owned());
            }
        }
    }
    forms.dedup();
    forms
}

/// Base64 of `data` without padding.
fn base64_unpadded(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let bytes =
            [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(alphabet[index as usize]));
        }
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

    #[test]
    fn redacts_percent_encoded_forms() {
        let secrets = vec!["p@ss w/rd+&=é".to_owned()];
        for form in [
            "p%40ss%20w%2Frd%2B%26%3D%C3%A9",
            "p%40ss+w%2Frd%2B%26%3D%C3%A9",
            "p%40ss%20w%2frd%2b%26%3d%c3%a9",
            // encodeURI leaves `@`, `/`, `+`, `&` and `=` alone.
            "p@ss%20w/rd+&=%C3%A9",
        ] {
            assert_eq!(redact(&format!("token={form}&x=1"), &secrets), "token=***&x=1", "{form}");
        }
    }

    #[test]
    fn redacts_json_escaped_forms() {
        let secret = "a\"b\\c/d\ne\té😀".to_owned();
        let secrets = vec![secret.clone()];
        let serde_form = serde_json::to_string(&secret).unwrap();
        assert_eq!(redact(&format!("{{\"t\":{serde_form}}}"), &secrets), "{\"t\":\"***\"}");
        let ascii_only = r#"a\"b\\c\/d\ne\t\u00E9\ud83d\ude00"#;
        assert_eq!(redact(&format!("[{ascii_only}]"), &secrets), "[***]");
        // Go's encoder writes `<`, `>` and `&` as \u escapes.
        let go = vec!["<tok&en>".to_owned()];
        assert_eq!(redact(r"x\u003ctok\u0026en\u003ex", &go), "x***x");
    }

    #[test]
    fn redacts_base64_alone_and_inside_longer_encoded_text() {
        let secrets = vec!["hunter2-password".to_owned()];
        // base64("hunter2-password"), and base64("deploy:hunter2-password") as in Basic auth.
        let alone = "aHVudGVyMi1wYXNzd29yZA==";
        let basic = "ZGVwbG95Omh1bnRlcjItcGFzc3dvcmQ=";
        let redacted = redact(&format!("{alone} Basic {basic}"), &secrets);
        assert!(!redacted.contains("aHVudGVyMi1wYXNzd29yZ"), "{redacted}");
        assert!(!redacted.contains("h1bnRlcjItcGFzc3dvcm"), "{redacted}");
        assert_eq!(redacted.matches("***").count(), 2, "{redacted}");
        // URL-safe alphabet: base64url("??>secret>>") has `-` and `_`.
        let url_secrets = vec!["??>secret>>".to_owned()];
        assert_eq!(redact("Pz8-c2VjcmV0Pj4", &url_secrets).matches("***").count(), 1);
    }

    #[test]
    fn leaves_everything_else_alone() {
        let secrets = vec!["s3cr3t-value".to_owned(), "ab".to_owned()];
        let text = "status 200, body {\"ok\":true}, ab cd, s3cr3t-valu, %73%33";
        assert_eq!(redact(text, &secrets), text);
        // The longer of two overlapping secrets goes whole.
        let nested = vec!["token".to_owned(), "token-extended".to_owned()];
        assert_eq!(redact("token-extended token", &nested), "*** ***");
    }
}
