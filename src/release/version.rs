//! Version strings as people and tools write them: `v1.4.0` and `1.4.0` name the same
//! release, so they compare equal and are shown with one `v`.

/// The version without a leading `v` or `V` before a digit (`v1.4.0` → `1.4.0`; `vnext`
/// stays as it is).
pub fn bare_version(version: &str) -> &str {
    match version.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => version,
    }
}

/// Whether two version strings name the same version, a leading `v` aside.
pub fn same_version(a: &str, b: &str) -> bool {
    bare_version(a.trim()) == bare_version(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_v_before_a_digit_is_not_part_of_the_version() {
        assert_eq!(bare_version("v1.0.0"), "1.0.0");
        assert_eq!(bare_version("V2"), "2");
        assert_eq!(bare_version("1.0.0"), "1.0.0");
        assert_eq!(bare_version("vnext"), "vnext");
        assert!(same_version("v1.4.0", "1.4.0"));
        assert!(same_version("1.4.0", "v1.4.0"));
        assert!(!same_version("v1.4.0", "1.4.1"));
    }
}
